"""Qdrant's point routes: the writes (each turned into one logged operation) and the reads.

    >>> op_from("delete", "docs", {"points": [1, 2]})
    {'op': 'delete_points', 'collection': 'docs', 'points': [1, 2]}
    >>> op_from("set_payload", "docs", {"payload": {"tag": "a"}, "filter": {"must": []}})["filter"]
    {'must': []}
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request

import system.vectordb.api.schemas as S
from system.common.openapi import json_body
from system.vectordb import convert as cv
from system.vectordb.api.deps import GUARDED, CollectionName, Deps, PointIdPath
from system.vectordb.api.envelope import RESPONSES, body_of, ok
from system.vectordb.errors import BadInput, MethodNotAllowed, NotFound

router = APIRouter(prefix="/collections/{collection_name}", tags=["points"], dependencies=GUARDED,
                   responses=RESPONSES)

# --- writes -------------------------------------------------------------------------------


def upsert_op(name: str, body: dict) -> dict:
    if body.get("batch") is not None:
        b = cv.obj(body["batch"], "batch")
        ids = cv.opt_list(b.get("ids"), "batch.ids")
        vectors = b.get("vectors")
        payloads = b.get("payloads")
        if isinstance(vectors, dict):
            for v in vectors.values():
                cv.require(isinstance(v, list) and len(v) == len(ids), "batch vectors must match ids")
            per_point = [{k: v[i] for k, v in vectors.items()} for i in range(len(ids))]
        else:
            cv.require(isinstance(vectors, list) and len(vectors) == len(ids), "batch vectors must match ids")
            per_point = vectors
        if payloads is not None:
            cv.require(isinstance(payloads, list) and len(payloads) == len(ids), "batch payloads must match ids")
        pts = [{"id": i, "vector": v, "payload": payloads[n] if payloads else None}
               for n, (i, v) in enumerate(zip(ids, per_point))]
    else:
        pts = body.get("points")
        cv.require(isinstance(pts, list), "points must be an array (or give a batch)")
    cv.require(body.get("shard_key") is None, "shard keys are not supported by this node")
    op = {"op": "upsert", "collection": name, "points": pts}
    for key in ("update_filter", "update_mode"):
        if body.get(key) is not None:
            op[key] = body[key]
    return op


def selector(op: dict, body: dict) -> dict:
    cv.point_ids(body.get("points"), "points")  # validated even when the filter selects
    if body.get("filter") is not None:
        op["filter"] = body["filter"]
    else:
        cv.require(body.get("points") is not None, "give points (ids) or a filter")
        op["points"] = body["points"]
    return op


def op_from(kind: str, name: str, body: dict) -> dict:
    if kind == "upsert":
        return upsert_op(name, body)
    if kind == "delete":
        return selector({"op": "delete_points", "collection": name}, body)
    if kind in ("set_payload", "overwrite_payload"):
        op = selector({"op": kind, "collection": name, "payload": body.get("payload")}, body)
        if body.get("key") is not None:
            op["key"] = body["key"]
        return op
    if kind == "delete_payload":
        return selector({"op": "delete_payload", "collection": name, "keys": body.get("keys")}, body)
    if kind == "clear_payload":
        return selector({"op": "clear_payload", "collection": name}, body)
    if kind == "update_vectors":
        return {"op": "update_vectors", "collection": name, "points": body.get("points")}
    if kind == "delete_vectors":
        return selector({"op": "delete_vectors", "collection": name, "vector": body.get("vector")}, body)
    raise BadInput(f"unknown operation {kind!r}")


def endpoint(kind: str):
    """The route of one write kind: its body becomes one operation (named `<kind>_points`)."""
    async def handler(collection_name: CollectionName, request: Request, deps: Deps):
        t0 = time.perf_counter()
        body = await body_of(request)
        return ok(await deps.write(op_from(kind, collection_name, body), collection_name, request), t0)
    handler.__name__ = f"{kind}_points"
    return handler


_WRITES = (("/points", "PUT", "upsert", S.UpsertPoints, "Upsert points"),
           ("/points/delete", "POST", "delete", S.Selector, "Delete points"),
           ("/points/payload", "POST", "set_payload", S.SetPayload, "Set payload"),
           ("/points/payload", "PUT", "overwrite_payload", S.SetPayload, "Overwrite payload"),
           ("/points/payload/delete", "POST", "delete_payload", S.DeletePayload, "Delete payload keys"),
           ("/points/payload/clear", "POST", "clear_payload", S.Selector, "Clear payload"),
           ("/points/vectors", "PUT", "update_vectors", S.UpdateVectors, "Update vectors"),
           ("/points/vectors/delete", "POST", "delete_vectors", S.DeleteVectors, "Delete vectors"))
for _path, _method, _kind, _model, _summary in _WRITES:
    router.add_api_route(_path, endpoint(_kind), methods=[_method], summary=_summary, openapi_extra=json_body(_model))


@router.post("/points/batch", summary="Several update operations in order", openapi_extra=json_body(S.BatchUpdate))
async def batch_update(collection_name: CollectionName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    body = await body_of(request)
    deps.engine.get(collection_name)  # 404 for a collection that does not exist, even with no operations
    ops = cv.opt_list(body.get("operations"), "operations")
    built = []
    for item in ops:
        item = cv.obj(item, "operation")
        cv.require(len(item) == 1, "each operation has exactly one kind")
        kind, inner = next(iter(item.items()))
        inner = cv.obj(inner, kind)
        if kind == "clear_payload":
            inner = {"points": inner.get("points"), "filter": inner.get("filter")}
        built.append(op_from(kind, collection_name, inner))
    return ok([await deps.write(op, collection_name, request) for op in built], t0)


# --- reads --------------------------------------------------------------------------------


def _not_a_point_id(request: Request) -> None:
    """GET on a write or search route (/points/delete, /points/search, ...) is 405, as in Qdrant,
    not a point id `delete` refused with 400. A dependency: it runs before the id is validated."""
    methods = sorted({m for r in router.routes if getattr(r, "path", None) == f"{router.prefix}/points/"
                      f"{request.path_params.get('id')}" for m in getattr(r, "methods", ())})
    if methods:
        raise MethodNotAllowed(", ".join(methods))


@router.get("/points/{id}", dependencies=[Depends(_not_a_point_id)])
async def get_point(collection_name: CollectionName, id: PointIdPath, deps: Deps):
    t0 = time.perf_counter()
    pid = cv.point_id(id if isinstance(id, int) else str(id))
    found = deps.engine.retrieve(collection_name, [pid], True, True)
    if not found:
        raise NotFound(f"No point with id {pid} found")
    return ok(found[0], t0)


@router.post("/points", openapi_extra=json_body(S.GetPoints))
async def get_points(collection_name: CollectionName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    body = await body_of(request)
    cv.require(body.get("ids") is not None, "ids is required")
    ids = cv.point_ids(body.get("ids"), "ids")
    return ok(deps.engine.retrieve(collection_name, ids, body.get("with_payload"), body.get("with_vector")), t0)


@router.post("/points/scroll", openapi_extra=json_body(S.Scroll, required=False))
async def scroll(collection_name: CollectionName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    return ok(deps.engine.scroll(collection_name, await body_of(request, required=False)), t0)


@router.post("/points/count", openapi_extra=json_body(S.Count, required=False))
async def count(collection_name: CollectionName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    return ok({"count": deps.engine.count(collection_name, await body_of(request, required=False))}, t0)


@router.post("/points/query", openapi_extra=json_body(S.QueryPoints, required=False))
async def query(collection_name: CollectionName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    return ok({"points": deps.engine.query(collection_name, await body_of(request, required=False))}, t0)


@router.post("/points/query/batch", openapi_extra=json_body(S.QueryBatch))
async def query_batch(collection_name: CollectionName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    body = await body_of(request)
    deps.engine.get(collection_name)  # 404 for a collection that does not exist, whatever the batch
    searches = cv.opt_list(body.get("searches"), "searches")
    return ok([{"points": deps.engine.query(collection_name, cv.obj(s, "query"))} for s in searches], t0)


@router.post("/points/search", openapi_extra=json_body(S.Search))
async def search(collection_name: CollectionName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    return ok(deps.engine.search(collection_name, await body_of(request)), t0)


@router.post("/points/search/batch", openapi_extra=json_body(S.SearchBatch))
async def search_batch(collection_name: CollectionName, request: Request, deps: Deps):
    t0 = time.perf_counter()
    body = await body_of(request)
    deps.engine.get(collection_name)  # 404 for a collection that does not exist, whatever the batch
    searches = cv.opt_list(body.get("searches"), "searches")
    return ok([deps.engine.search(collection_name, cv.obj(s, "search")) for s in searches], t0)
