"""What every halab HTTP service shares: health, readiness, limits, errors, request ids.

Each service builds its FastAPI app with `create_app`, registers its routers, and names the
dependencies its readiness depends on. `/healthz` says the process is alive and never
touches a dependency; `/readyz` probes each dependency and answers 503 naming the ones down.

    app = create_app("cms", readiness={"mongo": mongo_ping, "etcd": etcd_ping})
    app.include_router(policies.router)
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from system.common.metrics import CONTENT_TYPE, MetricsMiddleware, ServiceMetrics
from system.common.openapi import lift_definitions

Probe = Callable[[], Awaitable[None] | None]

REQUEST_ID_HEADER = "X-Request-Id"
_ERROR_SCHEMA = {"type": "object", "required": ["error", "detail"],
                 "properties": {"error": {"type": "string"}, "detail": {}, "request_id": {"type": "string"}}}
# What any route may answer before its handler runs (the middleware and error handlers below).
COMMON_RESPONSES = {
    400: {"description": "The body is not JSON", "content": {"application/json": {"schema": _ERROR_SCHEMA}}},
    413: {"description": "The body is over the service's limit",
          "content": {"application/json": {"schema": _ERROR_SCHEMA}}},
}
DEFAULT_MAX_BODY_BYTES = 1 << 20
READINESS_PROBE_TIMEOUT_S = 2.0

log = logging.getLogger(__name__)


def create_app(
    name: str,
    *,
    version: str = "0.1.0",
    readiness: dict[str, Probe] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    description: str = "",
) -> FastAPI:
    app = FastAPI(title=f"halab {name}", version=version, description=description, responses=COMMON_RESPONSES)
    probes = dict(readiness or {})

    @app.get("/healthz", tags=["health"], summary="The process is alive (no dependency is consulted)")
    async def healthz() -> dict:
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["health"], summary="Every dependency answers",
             responses={503: {"description": "A dependency is down; the body names it"}})
    async def readyz() -> JSONResponse:
        results = await asyncio.gather(*(_probe(p) for p in probes.values()))
        checks = dict(zip(probes, results))
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "service": name, "checks": checks}, status_code=200 if ready else 503)

    metrics = app.state.metrics = ServiceMetrics(name)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics (text exposition format 0.0.4)",
             response_class=Response, responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}})
    async def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = lift_definitions(generate())
        return app.openapi_schema

    app.openapi = openapi
    _install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


async def _probe(probe: Probe) -> str:
    try:
        if inspect.iscoroutinefunction(probe):
            await asyncio.wait_for(probe(), READINESS_PROBE_TIMEOUT_S)
        else:
            await asyncio.wait_for(asyncio.to_thread(probe), READINESS_PROBE_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure by name
        return f"down: {type(exc).__name__}: {exc}"[:300]
    return "ok"


def error_body(status: int, detail, request: Request | None = None) -> JSONResponse:
    body = {"error": _reason(status), "detail": detail}
    rid = request.headers.get(REQUEST_ID_HEADER) if request is not None else None
    if rid:
        body["request_id"] = rid
    return JSONResponse(body, status_code=status)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # The exception's headers too: a 405's Allow, a 503's Retry-After.
        response = error_body(exc.status_code, exc.detail, request)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(app, request.url.path)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        # FastAPI answers 422 for both unparsable and invalid bodies; a body that is not
        # JSON at all is a 400, as the platform's API promises.
        errors = exc.errors()
        status = 400 if any(e.get("type") == "json_invalid" for e in errors) else 422
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
        return error_body(status, detail, request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_body(500, f"{type(exc).__name__}", request)


def allowed_methods(app: FastAPI, path: str) -> str:
    """Every method of every route on `path`: Starlette names only the first route's."""
    methods: set[str] = set()
    for route in app.routes:
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= route_methods
    return ", ".join(sorted(methods))


class RequestIdMiddleware:
    """Every response carries X-Request-Id: the caller's, or a new one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id") or uuid.uuid4().hex.encode()
        if b"x-request-id" not in headers:
            scope["headers"] = [*scope.get("headers", []), (b"x-request-id", rid)]

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid)]
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413 before the handler reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(send)
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        import json

        body = json.dumps({"error": "Payload Too Large", "detail": f"body over {self.max_bytes} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass
