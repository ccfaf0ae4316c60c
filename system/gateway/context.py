"""What one request carries through the plugin pipeline, and the gateway's error replies."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .config import Config, Consumer, Route

REQUEST_ID = "X-Request-Id"


class RequestCtx:
    __slots__ = ("request", "route", "config", "consumer", "request_id", "path", "upstream_headers", "body")

    def __init__(self, request: web.Request, route: "Route", config: "Config", request_id: str):
        self.request = request
        self.route = route
        self.config = config
        self.consumer: "Consumer | None" = None
        self.request_id = request_id
        # The path as the client sent it (percent-encoded, no query): what goes upstream unless
        # proxy-rewrite changes it. Matching and OPA use the decoded `request.path`.
        self.path = request.rel_url.raw_path
        self.upstream_headers: dict[str, str] = {}
        self.body: bytes | None = None


def error(status: int, message: str, request_id: str, **extra: Any) -> web.Response:
    """APISIX answers plugin errors as {"message": ...}; we add the request id."""
    body = {"message": message, "request_id": request_id, **extra}
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json",
                        headers={REQUEST_ID: request_id})
