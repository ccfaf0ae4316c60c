"""Forwarding a request to a route's upstream: balancing, retries, timeouts, relaying.

Errors map as APISIX (nginx) maps them: no connection → 502, upstream too slow → 504;
a connect failure moves on to the next node while `retries` allow, and so does a read
timeout for idempotent methods (as nginx: a POST that reached a node is not sent again). Bodies with a length are relayed whole; event streams and chunked bodies
are relayed as they arrive.
"""

from __future__ import annotations

import logging
import time

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from .config import Node, Upstream
from .context import REQUEST_ID, RequestCtx, add_server_timing, error, server_timing

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "content-length",
})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Identity headers only the gateway may set: a client sending them is ignored.
SPOOFABLE = frozenset({"x-consumer-username", "x-consumer-groups", "x-consumer-role", "x-consumer-assertion"})


class UpstreamFailed(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def upstream_request_headers(ctx: RequestCtx) -> CIMultiDict:
    req = ctx.request
    out = CIMultiDict()
    for k, v in req.headers.items():
        lk = k.lower()
        if lk in HOP_BY_HOP or lk in SPOOFABLE:
            continue
        out.add(k, v)
    out.update(ctx.upstream_headers)
    out[REQUEST_ID] = ctx.request_id
    peer = req.remote or ""
    prior = req.headers.get("X-Forwarded-For")
    out["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    out["X-Forwarded-Proto"] = req.scheme
    return out


def response_headers(resp: aiohttp.ClientResponse, request_id: str) -> CIMultiDict:
    out = CIMultiDict()
    for k, v in resp.headers.items():
        if k.lower() not in HOP_BY_HOP:
            out.add(k, v)
    out[REQUEST_ID] = request_id
    return out


def is_streaming(resp: aiohttp.ClientResponse) -> bool:
    ctype = resp.headers.get("Content-Type", "")
    return ctype.startswith("text/event-stream") or resp.content_length is None and resp.status not in (204, 304) \
        and resp.headers.get("Transfer-Encoding", "").lower() == "chunked"


async def relay(resp: aiohttp.ClientResponse, ctx: RequestCtx) -> web.StreamResponse:
    request, request_id = ctx.request, ctx.request_id
    headers = response_headers(resp, request_id)
    if not is_streaming(resp):
        try:
            body = await resp.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamFailed(504, "upstream timed out sending its body") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamFailed(502, f"upstream failed sending its body: {type(exc).__name__}") from exc
        return web.Response(status=resp.status, body=body, headers=headers)
    # The headers go out before the body: the handler's own stamp would come too late.
    add_server_timing(headers, server_timing(ctx.started, ctx.opa_s, ctx.upstream_s))
    out = web.StreamResponse(status=resp.status, headers=headers)
    await out.prepare(request)
    try:
        async for chunk in resp.content.iter_any():
            await out.write(chunk)
    except (TimeoutError, aiohttp.ClientError) as exc:
        # Headers are gone already: all we can do is cut the stream so the client sees it end early.
        log.warning("request %s: upstream stream broke: %s", request_id, type(exc).__name__)
        request.transport and request.transport.close()
        return out
    await out.write_eof()
    return out


class Forwarder:
    def __init__(self, session: aiohttp.ClientSession):
        self.session = session

    async def forward(self, ctx: RequestCtx) -> web.StreamResponse:
        up: Upstream = ctx.route.upstream  # type: ignore[assignment]
        req = ctx.request
        body = ctx.body if ctx.body is not None else (await req.read() if req.body_exists else None)
        headers = upstream_request_headers(ctx)
        if ctx.path == req.rel_url.raw_path:
            target = req.raw_path
        else:
            target = ctx.path + (f"?{req.query_string}" if req.query_string else "")
        timeout = up.client_timeout
        tried: set[Node] = set()
        last = UpstreamFailed(502, "no upstream node available")
        waited = 0.0
        for _ in range(min(up.attempts, max(1, up.balancer.distinct))):
            node = up.balancer.pick(tried)
            if node is None:
                break
            tried.add(node)
            ctx.node = node.host
            if up.pass_host == "node":
                headers["Host"] = node.hostport
            url = URL(f"{up.scheme}://{node.host}:{node.port}{target}", encoded=True)
            sent = time.perf_counter()
            try:
                async with self.session.request(req.method, url, headers=headers, data=body, timeout=timeout,
                                                allow_redirects=False) as resp:
                    ctx.upstream_s = waited + time.perf_counter() - sent
                    return await relay(resp, ctx)
            except UpstreamFailed as exc:
                return error(exc.status, exc.message, ctx.request_id)
            except aiohttp.ConnectionTimeoutError:
                last = UpstreamFailed(504, f"upstream {node.hostport} timed out connecting")
            except (TimeoutError, aiohttp.ServerTimeoutError):
                last = UpstreamFailed(504, f"upstream {node.hostport} timed out")
                if req.method not in IDEMPOTENT:
                    # The request reached the node: sending a POST again could apply it twice.
                    log.warning("request %s route %s: %s", ctx.request_id, ctx.route.id, last.message)
                    break
            except aiohttp.ClientConnectorError as exc:
                last = UpstreamFailed(502, f"upstream {node.hostport} refused or unreachable")
                # which of them: a refusal, no name, a certificate, an address (a restart changes it)
                log.warning("request %s route %s: connect to %s: %s: %s", ctx.request_id, ctx.route.id,
                            node.hostport, type(exc).__name__, str(exc)[:300])
            except aiohttp.ClientError as exc:
                last = UpstreamFailed(502, f"upstream {node.hostport} failed: {type(exc).__name__}")
            finally:
                # A failed node's wait (a timeout, say) is upstream time too, not the gateway's.
                waited += time.perf_counter() - sent
            log.warning("request %s route %s: %s", ctx.request_id, ctx.route.id, last.message)
        if tried:
            ctx.upstream_s = waited
        return error(last.status, last.message, ctx.request_id)
