"""The hairpin: the RAG service calls the LLM back through the gateway's `/llm/chat`.

The DC-local gateway first; the other DC's when the local one cannot be reached, times out
or answers 502/503/504 (its own upstream trouble). Any other answer is final: a 429 too,
since both DCs' gateways spend the same LLM API key's quota.

    llm = HairpinClient(httpx.AsyncClient(), ["http://gw1:9080", "http://gw2:9080"], api_key=key)
    text, gateway = await llm.chat(messages, request_id="r1")

A failure is `LlmUnavailable` with a `reason` (what the last gateway tried did):
`llm-429` (with the Retry-After in `retry_after_s`), `llm-5xx`, `llm-timeout` (no answer in
time), `llm-unreachable` (no connection), or `llm-refused` (another 4xx: the gateway will not
let this service call, a configuration matter) and `llm-invalid` (a 200 that is no chat
completion). The first four are outages (generation.py answers degraded); the last two are not.

    >>> retry_after("7"), retry_after("soon"), retry_after(None)
    (7.0, None, None)
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

log = logging.getLogger(__name__)

RETRY_ON = {502, 503, 504}
NAMES = ("local", "remote")
# A Retry-After beyond this is taken as this: a garbled date must not silence the LLM for days.
MAX_RETRY_AFTER_S = 3600.0
OUTAGES = frozenset({"llm-429", "llm-5xx", "llm-timeout", "llm-unreachable"})


class LlmUnavailable(Exception):
    def __init__(self, message: str, status: int | None = None, *, reason: str | None = None,
                 retry_after_s: float | None = None, gateway: str | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason or _reason(status)
        self.retry_after_s = retry_after_s
        self.gateway = gateway

    @property
    def outage(self) -> bool:
        """The LLM path is failing (as opposed to refusing this service, or answering nonsense)."""
        return self.reason in OUTAGES


def _reason(status: int | None) -> str:
    if status is None:
        return "llm-unreachable"
    if status == 429:
        return "llm-429"
    return "llm-5xx" if status >= 500 else "llm-refused"


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), capped at MAX_RETRY_AFTER_S; None if absent or garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


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
        last: tuple[str, int | None, str | None] = ("llm-unreachable", None, None)  # reason, status, gateway
        for name, base in zip(NAMES, self.gateways):
            try:
                resp = await self.client.post(base + self.path, json=body, headers=headers, timeout=self.timeout)
            except httpx.HTTPError as exc:
                errors.append(f"{name} gateway: {type(exc).__name__}")
                timed_out = isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout)
                last = ("llm-timeout" if timed_out else "llm-unreachable", None, None)
                continue
            if resp.status_code in RETRY_ON:
                errors.append(f"{name} gateway: {resp.status_code} {_message(resp)}")
                last = ("llm-5xx", resp.status_code, name)
                continue
            if resp.status_code != 200:
                raise LlmUnavailable(f"{name} gateway answered {resp.status_code}: {_message(resp)}", resp.status_code,
                                     retry_after_s=retry_after(resp.headers.get("Retry-After")), gateway=name)
            try:
                return resp.json()["choices"][0]["message"]["content"], name
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise LlmUnavailable(f"{name} gateway gave no chat completion", reason="llm-invalid", gateway=name) from exc
        for e in errors:
            log.warning("hairpin: %s", e)
        reason, status, gateway = last
        raise LlmUnavailable("; ".join(errors) or "no gateway configured", status, reason=reason, gateway=gateway)

    async def close(self) -> None:
        await self.client.aclose()


def _message(resp: httpx.Response) -> str:
    try:
        data = resp.json()
        return str(data.get("message") or data.get("detail") or data.get("error") or "")[:200]
    except ValueError:
        return resp.text[:200]
