"""What one request carries through the plugin pipeline, the gateway's error replies, and
its Server-Timing entries."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .config import Config, Consumer, Route

REQUEST_ID = "X-Request-Id"
SERVER_TIMING = "Server-Timing"


class RequestCtx:
    __slots__ = ("request", "route", "config", "consumer", "request_id", "path", "upstream_headers", "body",
                 "started", "opa_s", "upstream_s", "node")

    def __init__(self, request: web.Request, route: Route, config: Config, request_id: str, started: float):
        self.request = request
        self.route = route
        self.config = config
        self.consumer: Consumer | None = None
        self.request_id = request_id
        # The path as the client sent it (percent-encoded, no query): what goes upstream unless
        # proxy-rewrite changes it. Matching and OPA use the decoded `request.path`.
        self.path = request.rel_url.raw_path
        self.upstream_headers: dict[str, str] = {}
        self.body: bytes | None = None
        # perf_counter() stamps: what the gateway waited on OPA and on the upstream is not its
        # own service time. None: that call was never made (so no Server-Timing entry).
        self.started = started
        self.opa_s: float | None = None
        self.upstream_s: float | None = None
        self.node = ""  # the upstream host last tried (apisix_http_status's `node`)


def server_timing(started: float, opa_s: float | None = None, upstream_s: float | None = None) -> str:
    """The gateway's Server-Timing entries as of now: `gateway` is its own time, the waits excluded."""
    own = time.perf_counter() - started - (opa_s or 0.0) - (upstream_s or 0.0)
    return (f"gateway;dur={own * 1000:.2f}"
            + ("" if opa_s is None else f", opa;dur={opa_s * 1000:.2f}")
            + ("" if upstream_s is None else f", upstream;dur={upstream_s * 1000:.2f}"))


def add_server_timing(headers, entries: str) -> None:
    """Append to the upstream's own Server-Timing entries (cms sends some), as one header."""
    prior = headers.getall(SERVER_TIMING, ())
    headers[SERVER_TIMING] = ", ".join((*prior, entries)) if prior else entries


def error(status: int, message: str, request_id: str, **extra: Any) -> web.Response:
    """APISIX answers plugin errors as {"message": ...}; we add the request id."""
    body = {"message": message, "request_id": request_id, **extra}
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json",
                        headers={REQUEST_ID: request_id})
