"""What every route is given (`Deps`: the node, its engine, the write settings) and the API-key guard.

    @router.get("/collections/{collection_name}/exists")
    async def collection_exists(collection_name: str, deps: Deps):
        return ok({"exists": collection_name in deps.engine.collections}, time.perf_counter())
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request
from pydantic import Field

from system.vectordb.api.envelope import flag
from system.vectordb.convert import COLLECTION_NAME, FIELD_PATH, MAX_U64
from system.vectordb.engine import Engine
from system.vectordb.errors import ApiError
from system.vectordb.node import Node


@dataclass(frozen=True)
class NodeDeps:
    """One per app, on `app.state.vectordb`: the node and how its writes are acknowledged.

        deps = NodeDeps(node, default_consistency=1, api_key=None)
        await deps.write({"op": "delete_index", "collection": "docs", "field_name": "f"}, "docs", request)
    """

    node: Node
    default_consistency: int
    api_key: str | None

    @property
    def engine(self) -> Engine:
        return self.node.engine

    def consistency_of(self, name: str | None, op: dict | None = None) -> int:
        """Copies a write needs: the collection's write_consistency_factor (capped at 2), else the node's."""
        if op is not None and op.get("op") == "create_collection":
            wcf = op["config"].get("write_consistency_factor") if isinstance(op.get("config"), dict) else None
        else:
            c = self.engine.collections.get(name) if name is not None else None
            wcf = c.write_consistency_factor if c is not None else None
        return min(2, wcf if isinstance(wcf, int) and not isinstance(wcf, bool) and wcf >= 1
                   else self.default_consistency)

    async def write(self, op: dict, collection: str | None, request: Request) -> dict:
        """A point or index write, answered as Qdrant's UpdateResult."""
        wait = flag(request, "wait", False)
        entry, _ = await self.node.write(op, self.consistency_of(collection, op))
        return {"operation_id": entry.seq, "status": "completed" if wait else "acknowledged"}


CollectionName = Annotated[str, Path(pattern=COLLECTION_NAME, description="1 to 255 characters, none of <>:\"/\\|?*")]
FieldName = Annotated[str, Path(pattern=FIELD_PATH, description="A payload key as a JSON path")]
PointIdPath = Annotated[Annotated[int, Field(ge=0, le=MAX_U64)] | UUID, Path(description="An unsigned integer or a UUID")]


async def node_deps(request: Request) -> NodeDeps:
    return request.app.state.vectordb


Deps = Annotated[NodeDeps, Depends(node_deps)]


class _Unauthorized(ApiError):
    status = 401
    prefix = "Unauthorized"


def check_key(request: Request, deps: Deps) -> None:
    """Like Qdrant's service.api_key: the `api-key` header or `Authorization: Bearer`."""
    if deps.api_key is None:
        return
    presented = request.headers.get("api-key")
    if presented is None:
        auth = request.headers.get("authorization", "")
        presented = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not hmac.compare_digest(presented.encode(), deps.api_key.encode()):
        raise _Unauthorized("Must provide an API key or an Authorization bearer token")


GUARDED = [Depends(check_key)]
