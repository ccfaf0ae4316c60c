"""Qdrant's collection routes: list, create, update, delete, payload indexes, aliases (always none)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

import system.vectordb.api.schemas as S
from system.common.openapi import json_body
from system.vectordb import convert as cv
from system.vectordb.api.deps import GUARDED, CollectionName, Deps, FieldName
from system.vectordb.api.envelope import RESPONSES, body_of, ok

router = APIRouter(tags=["collections"], dependencies=GUARDED, responses=RESPONSES)


@router.get("/collections")
async def list_collections(deps: Deps):
    t0 = time.perf_counter()
    return ok({"collections": [{"name": n} for n in deps.engine.collections]}, t0)


@router.get("/collections/{collection_name}")
async def get_collection(collection_name: CollectionName, deps: Deps):
    t0 = time.perf_counter()
    return ok(deps.engine.collection_info(collection_name), t0)


@router.get("/collections/{collection_name}/exists")
async def collection_exists(collection_name: CollectionName, deps: Deps):
    t0 = time.perf_counter()
    return ok({"exists": collection_name in deps.engine.collections}, t0)


@router.put("/collections/{collection_name}", openapi_extra=json_body(S.CreateCollection))
async def create_collection(collection_name: CollectionName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    body = await body_of(request, required=False)
    cv.require(body.get("init_from") is None, "init_from is not supported by this node")
    op = {"op": "create_collection", "name": collection_name, "config": body}
    await deps.node.write(op, deps.consistency_of(collection_name, op))
    return ok(True, t0)


@router.patch("/collections/{collection_name}", openapi_extra=json_body(S.UpdateCollection, required=False))
async def update_collection(collection_name: CollectionName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    body = await body_of(request, required=False)
    await deps.node.write({"op": "update_collection", "name": collection_name, "patch": body},
                          deps.consistency_of(collection_name))
    return ok(True, t0)


@router.delete("/collections/{collection_name}")
async def delete_collection(collection_name: CollectionName, deps: Deps):
    t0 = time.perf_counter()
    if collection_name not in deps.engine.collections:
        return ok(False, t0)
    _, result = await deps.node.write({"op": "delete_collection", "name": collection_name},
                                      deps.consistency_of(collection_name))
    return ok(bool(result), t0)


@router.put("/collections/{collection_name}/index", openapi_extra=json_body(S.CreateIndex))
async def create_index(collection_name: CollectionName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    body = await body_of(request)
    op = {"op": "create_index", "collection": collection_name, "field_name": body.get("field_name"),
          "field_schema": body.get("field_schema")}
    return ok(await deps.write(op, collection_name, request), t0)


@router.delete("/collections/{collection_name}/index/{field_name}")
async def delete_index(collection_name: CollectionName, field_name: FieldName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    op = {"op": "delete_index", "collection": collection_name, "field_name": field_name}
    return ok(await deps.write(op, collection_name, request), t0)


@router.get("/aliases")
async def aliases():
    return ok({"aliases": []}, time.perf_counter())


@router.get("/collections/{collection_name}/aliases")
async def collection_aliases(collection_name: CollectionName, deps: Deps):
    t0 = time.perf_counter()
    deps.engine.get(collection_name)
    return ok({"aliases": []}, t0)
