"""halab's own replication routes (not part of Qdrant's API): status, digest, and what peers send."""

from __future__ import annotations

from fastapi import APIRouter, Request

import system.vectordb.api.schemas as S
from system.common.openapi import json_body
from system.vectordb import convert as cv
from system.vectordb.api.deps import GUARDED, Deps
from system.vectordb.api.envelope import ERRORS, body_of

router = APIRouter(prefix="/replication", tags=["replication"], dependencies=GUARDED, responses=ERRORS)


@router.get("", summary="Replication status: each peer's reachability and lag, watermarks")
async def replication_status(deps: Deps):
    return deps.node.status()


@router.get("/digest", summary="Point count and content hash per collection (compare the nodes)")
async def digest(deps: Deps):
    return {"node_id": deps.node.node_id, "collections": deps.engine.digest()}


@router.get("/handshake", summary="This node's origin and applied sequence numbers")
async def handshake(deps: Deps):
    return deps.node.handshake()


@router.post("/apply", summary="Apply entries shipped by a peer (idempotent)", openapi_extra=json_body(S.Apply))
async def apply(request: Request, deps: Deps):
    body = await body_of(request)
    entries, sender = body.get("entries"), body.get("sender")
    cv.require(isinstance(entries, list), "entries must be an array")
    cv.require(sender is None or isinstance(sender, str), "sender must be a string (the peer's origin)")
    return deps.node.receive(sender or "", entries)


@router.post("/snapshot", summary="Merge one part of a peer's snapshot (last writer wins per point)",
             openapi_extra=json_body(S.SnapshotPart))
async def install_snapshot(request: Request, deps: Deps):
    body = await body_of(request)
    return await deps.node.install(cv.obj(body.get("part"), "part"))
