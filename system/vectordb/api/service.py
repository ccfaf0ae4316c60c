"""Qdrant's service routes: version info and the plain-text health checks (never behind the key)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from system.vectordb.api.deps import Deps

QDRANT_API_VERSION = "1.19.0"  # the REST API these shapes follow (qdrant-client 1.20 accepts it)

router = APIRouter(tags=["service"])


@router.get("/", summary="Version info (as Qdrant's root)")
async def root(deps: Deps):
    return {"title": "qdrant - vector search engine", "version": QDRANT_API_VERSION, "commit": None,
            "halab": {"implementation": "halab vectordb over qdrant-edge", "node_id": deps.node.node_id}}


@router.get("/healthz", response_class=PlainTextResponse)
@router.get("/livez", response_class=PlainTextResponse)
async def healthz():
    return "healthz check passed"


@router.get("/readyz", response_class=PlainTextResponse)
async def readyz():
    return "all shards are ready"
