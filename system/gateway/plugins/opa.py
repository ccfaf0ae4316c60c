"""`opa` as APISIX's plugin: ask OPA about every request, with APISIX 3.x's input and answer.

Input, as APISIX's opa helper builds it:

    {"type": "http",
     "request": {"scheme", "method", "host", "port", "path", "headers", "query"},
     "var": {"server_addr", "server_port", "remote_addr", "remote_port", "timestamp"},
     "route": <the route as stored, without its upstream>     (with_route)
     "consumer": <the consumer as stored, plus consumer_name>  (with_consumer)}

The decision is the document at `/v1/data/<policy>`: {"allow": bool, "reason"?,
"headers"?, "status_code"?}. Denied: the answer has `status_code` (default 403), the
`headers`, and `reason` as its body (a string as it is, an object as JSON), as APISIX
sends them. Allowed: the headers named in `send_headers_upstream` go upstream.

Where the lab departs from APISIX, on purpose:
- Credentials are redacted before they leave the gateway (the `apikey`, `authorization`,
  `cookie` and `x-vault-token` headers, and the key-auth key in the consumer): APISIX's
  docs warn that with_consumer sends the key; the lab never sends a secret to OPA.
- If OPA cannot answer, the request gets 503, not APISIX's 403: an authorisation that
  cannot be checked is not granted, and an outage must not read as a denial in a history.
"""

from __future__ import annotations

import json
import logging
import time

import aiohttp
from aiohttp import web

from ..context import REQUEST_ID, RequestCtx, error

log = logging.getLogger(__name__)

REDACT = {"apikey", "authorization", "cookie", "x-vault-token"}
REDACTED = "[redacted]"


class Opa:
    name = "opa"
    priority = 2001

    def __init__(self, conf: dict, services) -> None:
        self.session = services.session
        host = str(conf.get("host", "http://127.0.0.1:8181")).rstrip("/")
        policy = str(conf.get("policy", "halab/authz")).strip("/")
        self.url = f"{host}/v1/data/{policy}"
        self.timeout = aiohttp.ClientTimeout(total=float(conf.get("timeout", 3000)) / 1000)
        self.with_route = bool(conf.get("with_route", False))
        self.with_consumer = bool(conf.get("with_consumer", False))
        self.send_headers_upstream = [str(h) for h in conf.get("send_headers_upstream") or ()]

    def input_of(self, ctx: RequestCtx) -> dict:
        req = ctx.request
        # One lookup of the socket's ends serves both `request.port` and `var`.
        sock = req.transport.get_extra_info("sockname") if req.transport else None
        peer = req.transport.get_extra_info("peername") if req.transport else None
        data = {"type": "http", "request": _request(req, sock), "var": _var(sock, peer)}
        if self.with_route:
            data["route"] = {k: v for k, v in ctx.route.value.items() if k != "upstream"}
        if self.with_consumer and ctx.consumer is not None:
            data["consumer"] = _consumer(ctx.consumer)
        return {"input": data}

    async def access(self, ctx: RequestCtx):
        body = json.dumps(self.input_of(ctx))  # encoding is the gateway's work, so before the stamp
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
        if result is None:
            # No decision: the policy is not loaded (a restarted OPA before policy_sync put it
            # back). APISIX answers 503 here too; a 403 would report an outage as a denial.
            return error(503, "policy engine has no decision (policy not loaded)", ctx.request_id)
        if isinstance(result, bool):
            result = {"allow": result}
        if not isinstance(result, dict):
            return _deny(ctx, {})
        if result.get("allow") is not True:
            return _deny(ctx, result)
        headers = result.get("headers")
        if isinstance(headers, dict):
            for name in self.send_headers_upstream:
                if name in headers:
                    ctx.upstream_headers[name] = str(headers[name])
        return None


def _deny(ctx: RequestCtx, result: dict) -> web.Response:
    status = result.get("status_code")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status < 600:
        status = 403
    headers = {REQUEST_ID: ctx.request_id}
    if isinstance(result.get("headers"), dict):
        headers.update({str(k): str(v) for k, v in result["headers"].items()})
    reason = result.get("reason")
    if isinstance(reason, (dict, list)):
        return web.Response(status=status, body=json.dumps(reason).encode(), content_type="application/json",
                            headers=headers)
    return web.Response(status=status, text="" if reason is None else str(reason), headers=headers)


def _request(req: web.Request, sock) -> dict:
    headers: dict[str, str | list[str]] = {}
    for k, v in req.headers.items():
        k = k.lower()
        v = REDACTED if k in REDACT else v
        prior = headers.get(k)
        headers[k] = v if prior is None else [*(prior if isinstance(prior, list) else [prior]), v]
    query: dict[str, str | list[str]] = {}
    for k in req.query:
        values = req.query.getall(k)
        query[k] = values[0] if len(values) == 1 else values
    return {"scheme": req.scheme, "method": req.method, "host": (req.host or "").rsplit(":", 1)[0].lower(),
            "port": sock[1] if sock else None, "path": req.path, "headers": headers, "query": query}


def _var(sock, peer) -> dict:
    # nginx variables are strings, the timestamp a number of seconds (ngx.time()).
    return {"server_addr": sock[0] if sock else None, "server_port": str(sock[1]) if sock else None,
            "remote_addr": peer[0] if peer else None, "remote_port": str(peer[1]) if peer else None,
            "timestamp": int(time.time())}


def _consumer(consumer) -> dict:
    value = json.loads(json.dumps(consumer.value))  # a deep copy, so redaction never touches the config
    value.setdefault("username", consumer.username)
    value["consumer_name"] = consumer.username
    auth = (value.get("plugins") or {}).get("key-auth")
    if isinstance(auth, dict) and "key" in auth:
        auth["key"] = REDACTED
    return value
