"""`ai-proxy` as APISIX (3.12 shape): the route's requests go to an OpenAI-compatible LLM.

    "ai-proxy": {
      "provider": "openai-compatible",
      "auth": {"header": {"Authorization": "Bearer $secret://vault/1/llm/api_key"}},
      "options": {"model": "stub-1"},
      "override": {"endpoint": "http://llm:8000/v1/chat/completions"},
      "timeout": 30000
    }

The body must be an OpenAI chat request ({"messages": [{"role", "content"}, ...]}); options
override its fields. `$secret://` references in the auth headers are resolved through the
gateway's SecretStore at request time: no key, no call (503). If the LLM answers 401 to a
cached key, the key is re-read once (a rotation may have happened) and the call retried.
Streaming (`"stream": true`) responses are relayed chunk by chunk.
"""

from __future__ import annotations

import json
import logging
import time

import aiohttp
from aiohttp import web
from yarl import URL

from ..config import ConfigError
from ..context import RequestCtx, error
from ..proxy import UpstreamFailed, relay
from ..secrets import SECRET_REF, SecretUnavailable

log = logging.getLogger(__name__)

DEFAULT_ENDPOINTS = {"openai": "https://api.openai.com/v1/chat/completions"}


class AiProxy:
    name = "ai-proxy"
    priority = 1040

    def __init__(self, conf: dict, services) -> None:
        self.services = services
        provider = conf.get("provider", "openai")
        endpoint = (conf.get("override") or {}).get("endpoint") or DEFAULT_ENDPOINTS.get(provider)
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ConfigError("ai-proxy needs override.endpoint (http/https)")
        self.endpoint = endpoint
        self.host = URL(endpoint).host or ""
        auth = conf.get("auth") or {}
        self.auth_headers = {str(k): str(v) for k, v in (auth.get("header") or {}).items()}
        self.auth_query = {str(k): str(v) for k, v in (auth.get("query") or {}).items()}
        self.options = dict(conf.get("options") or {})
        t = float(conf.get("timeout", 30000)) / 1000
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(t, 5.0), connect=min(t, 5.0), sock_read=t)

    async def _resolve(self, ctx: RequestCtx, force: bool = False) -> tuple[dict, dict, bool]:
        """Headers and query with secrets resolved; the flag says whether any secret was used."""
        store = self.services.secrets
        managers = ctx.config.secret_managers
        used = False
        out = []
        for mapping in (self.auth_headers, self.auth_query):
            resolved = {}
            for k, v in mapping.items():
                if "$secret://" in v:
                    used = True
                    if force:
                        for m in SECRET_REF.finditer(v):
                            store.invalidate(f"{m.group(1)}/{m.group(2)}", m.group(3), managers)
                    v = await store.resolve(v, managers)
                resolved[k] = v
            out.append(resolved)
        return out[0], out[1], used

    async def handle(self, ctx: RequestCtx) -> web.StreamResponse:
        req = ctx.request
        if req.method != "POST":
            return error(405, "ai-proxy accepts POST", ctx.request_id)
        raw = ctx.body if ctx.body is not None else await req.read()
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            return error(400, "request body is not JSON", ctx.request_id)
        problem = _validate(body)
        if problem:
            return error(400, problem, ctx.request_id)
        body.update(self.options)
        payload = json.dumps(body).encode()
        try:
            headers, query, used_secret = await self._resolve(ctx)
        except SecretUnavailable:
            return error(503, "LLM credentials unavailable (secret store)", ctx.request_id)
        waited = 0.0
        ctx.node = self.host
        for attempt in range(2):
            send = {"Content-Type": "application/json", "X-Request-Id": ctx.request_id, **headers}
            sent = time.perf_counter()
            try:
                async with self.services.session.post(self.endpoint, data=payload, headers=send, params=query or None,
                                                      timeout=self.timeout) as resp:
                    # The LLM is this route's upstream: its wait is summed over both attempts.
                    ctx.upstream_s = waited + time.perf_counter() - sent
                    if resp.status == 401 and used_secret and attempt == 0:
                        await resp.read()
                        waited = ctx.upstream_s
                        try:
                            headers, query, _ = await self._resolve(ctx, force=True)
                        except SecretUnavailable:
                            return error(503, "LLM credentials unavailable (secret store)", ctx.request_id)
                        continue
                    return await relay(resp, ctx)
            except UpstreamFailed as exc:
                return error(exc.status, exc.message, ctx.request_id)
            except (TimeoutError, aiohttp.ServerTimeoutError):
                ctx.upstream_s = waited + time.perf_counter() - sent
                return error(504, "LLM timed out", ctx.request_id)
            except aiohttp.ClientError as exc:
                ctx.upstream_s = waited + time.perf_counter() - sent
                return error(502, f"LLM unreachable: {type(exc).__name__}", ctx.request_id)
        return error(502, "LLM refused the key after a fresh read", ctx.request_id)


def _validate(body) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "messages must be a non-empty list"
    for m in msgs:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or m["role"] not in (
                "system", "user", "assistant", "tool", "developer"):
            return "each message needs a role of system, user, assistant, tool or developer"
        content = m.get("content")
        if not isinstance(content, str) and not (
                isinstance(content, list) and all(isinstance(part, dict) for part in content)):
            return "each message needs string content (or a list of content parts)"
    if "stream" in body and not isinstance(body["stream"], bool):
        return "stream must be a boolean"
    for k in ("max_tokens", "n"):
        if k in body and (isinstance(body[k], bool) or not isinstance(body[k], int) or body[k] < 1):
            return f"{k} must be a positive integer"
    if "temperature" in body and (isinstance(body["temperature"], bool) or not isinstance(body["temperature"], (int, float))):
        return "temperature must be a number"
    if "model" in body and not isinstance(body["model"], str):
        return "model must be a string"
    return None
