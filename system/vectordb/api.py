"""Qdrant's REST API (the subset the platform uses, same paths and JSON shapes), so that
`qdrant_client.QdrantClient(url=...)` works against a node unchanged.

Every answer is Qdrant's envelope `{"result": ..., "status": "ok", "time": s}`; errors are
`{"status": {"error": "..."}, "time": s}` with Qdrant's status codes (400, 404, 409, 503).
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from system.vectordb import convert as cv
from system.vectordb import jsonfast
from system.vectordb.errors import ApiError, BadInput
from system.vectordb.replication import Node

QDRANT_API_VERSION = "1.19.0"  # the REST API these shapes follow (qdrant-client 1.20 accepts it)


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return jsonfast.dumps(content)


def ok(result: Any, t0: float) -> JSONResponse:
    return FastJSONResponse({"result": result, "status": "ok", "time": round(time.perf_counter() - t0, 6)})


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse({"status": {"error": exc.text()}, "time": 0.0}, status_code=exc.status)


async def body_of(request: Request, required: bool = True) -> dict:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise BadInput("Json deserialize error: EOF while parsing a value")
        return {}
    try:
        data = jsonfast.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadInput(f"Json deserialize error: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise BadInput("Json deserialize error: expected an object")
    return data


def flag(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise BadInput(f"Query deserialize error: {name} must be true or false")


def build_routers(node: Node, *, default_consistency: int, api_key: str | None) -> list[APIRouter]:
    engine = node.engine

    def check_key(request: Request) -> None:
        if api_key is None:
            return
        presented = request.headers.get("api-key")
        if presented is None:
            auth = request.headers.get("authorization", "")
            presented = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(presented.encode(), api_key.encode()):
            raise _Unauthorized("Must provide an API key or an Authorization bearer token")

    guarded = [Depends(check_key)]
    service = APIRouter(tags=["service"])
    collections = APIRouter(tags=["collections"], dependencies=guarded)
    points = APIRouter(prefix="/collections/{collection_name}", tags=["points"], dependencies=guarded)
    replication = APIRouter(prefix="/replication", tags=["replication"], dependencies=guarded)

    def consistency_of(name: str | None, op: dict | None = None) -> int:
        if op is not None and op.get("op") == "create_collection":
            wcf = op["config"].get("write_consistency_factor") if isinstance(op.get("config"), dict) else None
        else:
            c = engine.collections.get(name) if name is not None else None
            wcf = c.write_consistency_factor if c is not None else None
        return min(2, wcf if isinstance(wcf, int) and not isinstance(wcf, bool) and wcf >= 1 else default_consistency)

    async def write(op: dict, collection: str | None, request: Request) -> dict:
        wait = flag(request, "wait", False)
        entry, _ = await node.write(op, consistency_of(collection, op))
        return {"operation_id": entry.seq, "status": "completed" if wait else "acknowledged"}

    # --- service ------------------------------------------------------------------------

    @service.get("/", summary="Version info (as Qdrant's root)")
    async def root():
        return {"title": "qdrant - vector search engine", "version": QDRANT_API_VERSION, "commit": None,
                "halab": {"implementation": "halab vectordb over qdrant-edge", "node_id": node.node_id}}

    @service.get("/healthz", response_class=PlainTextResponse)
    @service.get("/livez", response_class=PlainTextResponse)
    async def healthz():
        return "healthz check passed"

    @service.get("/readyz", response_class=PlainTextResponse)
    async def readyz():
        return "all shards are ready"

    # --- collections --------------------------------------------------------------------

    @collections.get("/collections")
    async def list_collections():
        t0 = time.perf_counter()
        return ok({"collections": [{"name": n} for n in engine.collections]}, t0)

    @collections.get("/collections/{collection_name}")
    async def get_collection(collection_name: str):
        t0 = time.perf_counter()
        return ok(engine.collection_info(collection_name), t0)

    @collections.get("/collections/{collection_name}/exists")
    async def collection_exists(collection_name: str):
        t0 = time.perf_counter()
        return ok({"exists": collection_name in engine.collections}, t0)

    @collections.put("/collections/{collection_name}")
    async def create_collection(collection_name: str, request: Request):
        t0 = time.perf_counter()
        body = await body_of(request, required=False)
        cv.require(body.get("init_from") is None, "init_from is not supported by this node")
        op = {"op": "create_collection", "name": collection_name, "config": body}
        await node.write(op, consistency_of(collection_name, op))
        return ok(True, t0)

    @collections.patch("/collections/{collection_name}")
    async def update_collection(collection_name: str, request: Request):
        t0 = time.perf_counter()
        body = await body_of(request, required=False)
        await node.write({"op": "update_collection", "name": collection_name, "patch": body},
                         consistency_of(collection_name))
        return ok(True, t0)

    @collections.delete("/collections/{collection_name}")
    async def delete_collection(collection_name: str):
        t0 = time.perf_counter()
        if collection_name not in engine.collections:
            return ok(False, t0)
        _, result = await node.write({"op": "delete_collection", "name": collection_name},
                                     consistency_of(collection_name))
        return ok(bool(result), t0)

    @collections.put("/collections/{collection_name}/index")
    async def create_index(collection_name: str, request: Request):
        t0 = time.perf_counter()
        body = await body_of(request)
        op = {"op": "create_index", "collection": collection_name, "field_name": body.get("field_name"),
              "field_schema": body.get("field_schema")}
        return ok(await write(op, collection_name, request), t0)

    @collections.delete("/collections/{collection_name}/index/{field_name}")
    async def delete_index(collection_name: str, field_name: str, request: Request):
        t0 = time.perf_counter()
        op = {"op": "delete_index", "collection": collection_name, "field_name": field_name}
        return ok(await write(op, collection_name, request), t0)

    @collections.get("/aliases")
    async def aliases():
        return ok({"aliases": []}, time.perf_counter())

    @collections.get("/collections/{collection_name}/aliases")
    async def collection_aliases(collection_name: str):
        t0 = time.perf_counter()
        engine.get(collection_name)
        return ok({"aliases": []}, t0)

    # --- points: writes -----------------------------------------------------------------

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
        async def handler(collection_name: str, request: Request):
            t0 = time.perf_counter()
            body = await body_of(request)
            return ok(await write(op_from(kind, collection_name, body), collection_name, request), t0)
        handler.__name__ = f"{kind}_points"
        return handler

    points.add_api_route("/points", endpoint("upsert"), methods=["PUT"], summary="Upsert points")
    points.add_api_route("/points/delete", endpoint("delete"), methods=["POST"], summary="Delete points")
    points.add_api_route("/points/payload", endpoint("set_payload"), methods=["POST"], summary="Set payload")
    points.add_api_route("/points/payload", endpoint("overwrite_payload"), methods=["PUT"], summary="Overwrite payload")
    points.add_api_route("/points/payload/delete", endpoint("delete_payload"), methods=["POST"])
    points.add_api_route("/points/payload/clear", endpoint("clear_payload"), methods=["POST"])
    points.add_api_route("/points/vectors", endpoint("update_vectors"), methods=["PUT"])
    points.add_api_route("/points/vectors/delete", endpoint("delete_vectors"), methods=["POST"])

    @points.post("/points/batch", summary="Several update operations in order")
    async def batch_update(collection_name: str, request: Request):
        t0 = time.perf_counter()
        body = await body_of(request)
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
        return ok([await write(op, collection_name, request) for op in built], t0)

    # --- points: reads ------------------------------------------------------------------

    @points.get("/points/{id}")
    async def get_point(collection_name: str, id: str):
        t0 = time.perf_counter()
        pid = cv.point_id(int(id) if id.isdigit() else id)
        found = engine.retrieve(collection_name, [pid], True, True)
        if not found:
            from system.vectordb.errors import NotFound

            raise NotFound(f"No point with id {pid} found")
        return ok(found[0], t0)

    @points.post("/points")
    async def get_points(collection_name: str, request: Request):
        t0 = time.perf_counter()
        body = await body_of(request)
        ids = cv.point_ids(body.get("ids"), "ids")
        return ok(engine.retrieve(collection_name, ids, body.get("with_payload"), body.get("with_vector")), t0)

    @points.post("/points/scroll")
    async def scroll(collection_name: str, request: Request):
        t0 = time.perf_counter()
        return ok(engine.scroll(collection_name, await body_of(request, required=False)), t0)

    @points.post("/points/count")
    async def count(collection_name: str, request: Request):
        t0 = time.perf_counter()
        return ok({"count": engine.count(collection_name, await body_of(request, required=False))}, t0)

    @points.post("/points/query")
    async def query(collection_name: str, request: Request):
        t0 = time.perf_counter()
        return ok({"points": engine.query(collection_name, await body_of(request, required=False))}, t0)

    @points.post("/points/query/batch")
    async def query_batch(collection_name: str, request: Request):
        t0 = time.perf_counter()
        body = await body_of(request)
        searches = cv.opt_list(body.get("searches"), "searches")
        return ok([{"points": engine.query(collection_name, cv.obj(s, "query"))} for s in searches], t0)

    @points.post("/points/search")
    async def search(collection_name: str, request: Request):
        t0 = time.perf_counter()
        return ok(engine.search(collection_name, await body_of(request)), t0)

    @points.post("/points/search/batch")
    async def search_batch(collection_name: str, request: Request):
        t0 = time.perf_counter()
        body = await body_of(request)
        searches = cv.opt_list(body.get("searches"), "searches")
        return ok([engine.search(collection_name, cv.obj(s, "search")) for s in searches], t0)

    # --- replication (halab's own; not part of Qdrant's API) ----------------------------

    @replication.get("", summary="Replication status: each peer's reachability and lag, watermarks")
    async def replication_status():
        return node.status()

    @replication.get("/digest", summary="Point count and content hash per collection (compare the nodes)")
    async def digest():
        return {"node_id": node.node_id, "collections": engine.digest()}

    @replication.get("/handshake", summary="This node's origin and applied sequence numbers")
    async def handshake():
        return node.handshake()

    @replication.post("/apply", summary="Apply entries shipped by a peer (idempotent)")
    async def apply(request: Request):
        body = await body_of(request)
        entries = body.get("entries")
        cv.require(isinstance(entries, list), "entries must be an array")
        return node.receive(str(body.get("sender")), entries)

    @replication.post("/snapshot", summary="Merge one part of a peer's snapshot (last writer wins per point)")
    async def install_snapshot(request: Request):
        body = await body_of(request)
        return await node.install(cv.obj(body.get("part"), "part"))

    return [service, collections, points, replication]


class _Unauthorized(ApiError):
    status = 401
    prefix = "Unauthorized"
