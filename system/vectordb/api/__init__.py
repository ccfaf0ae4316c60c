"""Qdrant's REST API (the subset the platform uses, same paths and JSON shapes), so that
`qdrant_client.QdrantClient(url=...)` works against a node unchanged.

Every answer is Qdrant's envelope `{"result": ..., "status": "ok", "time": s}`; errors are
`{"status": {"error": "..."}, "time": s}` with Qdrant's status codes (400, 404, 409, 503).

One router per resource; `build_app` includes `ROUTERS` in this order and sets
`app.state.vectordb` to the `NodeDeps` the routes are given:

    app.state.vectordb = NodeDeps(node, default_consistency=1, api_key=None)
    for router in ROUTERS:
        app.include_router(router)
"""

from __future__ import annotations

from system.vectordb.api.collections import router as collections
from system.vectordb.api.deps import NodeDeps
from system.vectordb.api.envelope import error_response
from system.vectordb.api.points import router as points
from system.vectordb.api.replication import router as replication
from system.vectordb.api.service import router as service

ROUTERS = (service, collections, points, replication)

__all__ = ["ROUTERS", "NodeDeps", "error_response"]
