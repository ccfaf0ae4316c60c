"""A vectordb node: Qdrant's REST API over qdrant-edge, replicating to every peer (full mesh).

    app = build_app(Settings(node_id="dc1", peers="http://127.0.0.1:6334,http://127.0.0.1:6335",
                             data_dir=Path("/tmp/v1")))
    # QdrantClient(url="http://127.0.0.1:6333").query_points("docs", query=[...], query_filter=...)
    # GET /replication -> {"peer_reachable": true, "lag_ops": 0, "peers": [{"url": ..., "lag_ops": 0}, ...]}

State: the snapshot and the operation log in `data_dir` (JSON lines) are the durable record;
the edge shards are rebuilt from them at start under `data_dir/shards`. Without a data dir everything is in
memory and a restarted node is refilled by its peers.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from system.common.service import allowed_methods, create_app
from system.vectordb.api import ROUTERS, NodeDeps, error_response
from system.vectordb.engine import Engine
from system.vectordb.errors import ApiError, BadInput, NotFound
from system.vectordb.node import Node
from system.vectordb.oplog import OpLog
from system.vectordb.settings import Settings

log = logging.getLogger(__name__)


def _identity(data_dir: Path | None, node_id: str) -> str:
    """The origin id: node id plus an incarnation that lives as long as the data dir."""
    if data_dir is None:
        return f"{node_id}:{uuid.uuid4().hex[:12]}"
    path = data_dir / "identity.json"
    if path.exists():
        try:
            return json.loads(path.read_text())["origin"]
        except (ValueError, KeyError):
            log.warning("identity.json unreadable; starting a new incarnation")
    origin = f"{node_id}:{uuid.uuid4().hex[:12]}"
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"origin": origin}))
    return origin


def build_app(settings: Settings | None = None):
    settings = settings or Settings()
    api_key = settings.api_key.get_secret_value() if settings.api_key else None

    tmp = tempfile.TemporaryDirectory(prefix="halab-vectordb-") if settings.data_dir is None else None
    shards = Path(tmp.name) if tmp is not None else settings.data_dir / "shards"
    engine = Engine(shards)
    oplog = OpLog(settings.data_dir / "oplog.jsonl" if settings.data_dir else None, fsync=settings.fsync)
    node = Node(engine, oplog, node_id=settings.node_id, origin=_identity(settings.data_dir, settings.node_id),
                peers=settings.peer_urls, api_key=api_key, consistency_timeout_s=settings.consistency_timeout_s,
                heartbeat_s=settings.heartbeat_s, retry_max_s=settings.retry_max_s,
                compact_after=settings.compact_after,
                snapshot_path=settings.data_dir / "snapshot.jsonl" if settings.data_dir else None)

    @asynccontextmanager
    async def lifespan(app):
        entries = node.restore()
        log.info("vectordb %s (%s): %d snapshot points and %d logged operations replayed, %d collections; "
                 "peers %s", settings.node_id, node.origin, node.snapshot_points, len(entries), len(engine.collections),
                 ", ".join(settings.peer_urls) or "none")
        node.start()
        try:
            yield
        finally:
            await node.stop()
            oplog.close()
            engine.close()
            if tmp is not None:
                tmp.cleanup()

    app = create_app("vectordb", max_body_bytes=settings.max_body_bytes,
                     description="Qdrant's REST API over qdrant-edge, with full-mesh replication")
    app.router.lifespan_context = lifespan
    # Qdrant's health endpoints answer plain text; drop the JSON ones of the common factory.
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) not in ("/healthz", "/readyz")]
    app.state.node = node
    app.state.vectordb = NodeDeps(node, default_consistency=settings.write_consistency, api_key=api_key)
    _install_qdrant_errors(app)
    for router in ROUTERS:
        app.include_router(router)
    _document_400_not_422(app)
    return app


def _document_400_not_422(app) -> None:
    """FastAPI documents 422 for invalid parameters; this node answers them 400, as Qdrant does."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = generate()
            for operations in document["paths"].values():
                for op in operations.values():
                    op.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                document.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi


def _install_qdrant_errors(app) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return error_response(NotFound(f"{request.method} {request.url.path}"))
        err = ApiError(str(exc.detail))
        err.status = exc.status_code
        err.prefix = "Error"
        response = error_response(err)
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(app, request.url.path)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        return error_response(BadInput(f"{'.'.join(map(str, first.get('loc', ())))}: {first.get('msg', 'invalid')}"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        err = ApiError(f"Service internal error: {type(exc).__name__}")
        err.status = 500
        err.prefix = "Service internal error"
        return error_response(err)
