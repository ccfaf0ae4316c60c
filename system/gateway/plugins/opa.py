"""`opa` as APISIX's plugin: ask OPA about every request; deny with 403 and OPA's reason.

Input (the halab contract): {"type": "http", "request": {method, path, headers, query},
"consumer": {username, groups, role}, "route": {id}}; the decision is the document at
`/v1/data/<policy>`: {"allow": bool, "reason": str?, "status_code": int?}. Credentials in
the headers are redacted before they leave the gateway. If OPA cannot answer, the request
is refused (503): an authorisation that cannot be checked is not granted.
"""

from __future__ import annotations

import json
import logging
import time

import aiohttp

from ..context import RequestCtx, error

log = logging.getLogger(__name__)

REDACT = {"apikey", "authorization", "cookie", "x-vault-token"}


class Opa:
    name = "opa"
    priority = 2001

    def __init__(self, conf: dict, services) -> None:
        self.session = services.session
        host = str(conf.get("host", "http://127.0.0.1:8181")).rstrip("/")
        policy = str(conf.get("policy", "halab/authz")).strip("/")
        self.url = f"{host}/v1/data/{policy}"
        self.timeout = aiohttp.ClientTimeout(total=float(conf.get("timeout", 3000)) / 1000)
        self.with_route = bool(conf.get("with_route", True))
        self.with_consumer = bool(conf.get("with_consumer", True))

    async def access(self, ctx: RequestCtx):
        req = ctx.request
        headers = {k.lower(): ("[redacted]" if k.lower() in REDACT else v) for k, v in req.headers.items()}
        c = ctx.consumer
        payload = {"input": {
            "type": "http",
            "request": {"method": req.method, "path": req.path, "headers": headers, "query": dict(req.query)},
            "consumer": {"username": c.username, "groups": list(c.groups), "role": c.role} if (c and self.with_consumer) else {},
            "route": {"id": ctx.route.id} if self.with_route else {},
        }}
        body = json.dumps(payload)  # encoding is the gateway's work, so before the stamp
        sent = time.perf_counter()
        try:
            async with self.session.post(self.url, data=body, timeout=self.timeout,
                                         headers={"Content-Type": "application/json"}) as resp:
                if resp.status != 200:
                    return error(503, f"policy engine answered {resp.status}", ctx.request_id)
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("opa %s: %s", self.url, type(exc).__name__)
            return error(503, "policy engine unavailable", ctx.request_id)
        finally:
            # Also when OPA failed: a timeout spent waiting on it is not the gateway's own time.
            ctx.opa_s = time.perf_counter() - sent
        result = data.get("result") if isinstance(data, dict) else None
        if isinstance(result, bool):
            result = {"allow": result}
        if not isinstance(result, dict) or result.get("allow") is not True:
            reason = "denied by policy"
            status = 403
            if isinstance(result, dict):
                if isinstance(result.get("reason"), str) and result["reason"]:
                    reason = result["reason"]
                if isinstance(result.get("status_code"), int) and 400 <= result["status_code"] < 600:
                    status = result["status_code"]
            return error(status, reason, ctx.request_id)
        return None
