"""The hairpin: the RAG service calls the LLM back through the gateway's `/llm/chat`.

The DC-local gateway first; the other DC's when the local one cannot be reached, times out
or answers 502/503/504 (its own upstream trouble). Any other answer is final.

    llm = HairpinClient(httpx.AsyncClient(), ["http://gw1:9080", "http://gw2:9080"], api_key=key)
    text, gateway = await llm.chat(messages, request_id="r1")
"""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger(__name__)

RETRY_ON = {502, 503, 504}
NAMES = ("local", "remote")


class LlmUnavailable(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class HairpinClient:
    def __init__(self, client: httpx.AsyncClient, gateways: list[str], api_key: str, *, path: str = "/llm/chat",
                 model: str = "", timeout_s: float = 30.0, connect_timeout_s: float = 1.0):
        self.client = client
        self.gateways = [g.rstrip("/") for g in gateways if g]
        self._api_key = api_key
        self.path = path
        self.model = model
        self.timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)

    async def chat(self, messages: list[dict], request_id: str | None = None) -> tuple[str, str]:
        body: dict = {"messages": messages}
        if self.model:
            body["model"] = self.model
        headers = {"apikey": self._api_key}
        if request_id:
            headers["X-Request-Id"] = request_id
        errors = []
        for name, base in zip(NAMES, self.gateways):
            try:
                resp = await self.client.post(base + self.path, json=body, headers=headers, timeout=self.timeout)
            except httpx.HTTPError as exc:
                errors.append(f"{name} gateway: {type(exc).__name__}")
                continue
            if resp.status_code in RETRY_ON:
                errors.append(f"{name} gateway: {resp.status_code} {_message(resp)}")
                continue
            if resp.status_code != 200:
                raise LlmUnavailable(f"{name} gateway answered {resp.status_code}: {_message(resp)}", resp.status_code)
            try:
                return resp.json()["choices"][0]["message"]["content"], name
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise LlmUnavailable(f"{name} gateway gave no chat completion") from exc
        for e in errors:
            log.warning("hairpin: %s", e)
        raise LlmUnavailable("; ".join(errors) or "no gateway configured")

    async def close(self) -> None:
        await self.client.aclose()


def _message(resp: httpx.Response) -> str:
    try:
        data = resp.json()
        return str(data.get("message") or data.get("detail") or data.get("error") or "")[:200]
    except ValueError:
        return resp.text[:200]
