"""Collections of points over qdrant-edge shards: Qdrant's data model in one process.

The engine applies *operations* — plain JSON dicts, the unit that is logged and replicated —
and answers reads. It knows nothing of HTTP or of the peer.

    engine = Engine(Path("/tmp/vdb"))
    engine.apply({"op": "create_collection", "name": "docs",
                  "config": {"vectors": {"size": 4, "distance": "Cosine"}}})
    engine.apply({"op": "upsert", "collection": "docs",
                  "points": [{"id": 1, "vector": [1, 0, 0, 0], "payload": {"doc_id": "a"}}]})
    engine.query("docs", {"query": [1, 0, 0, 0], "limit": 3})
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from system.vectordb import convert as cv
from system.vectordb.errors import AlreadyExists, ApiError, BadInput, NotFound

log = logging.getLogger(__name__)
MAX_DIM = 65536
DEFAULT_LIMIT = 10
DATATYPES = {"float32": qe.VectorStorageDatatype.Float32, "float16": qe.VectorStorageDatatype.Float16,
             "uint8": qe.VectorStorageDatatype.Uint8}
UPDATE_MODES = {"upsert": qe.UpdateMode.Upsert, "insert_only": qe.UpdateMode.InsertOnly,
                "update_only": qe.UpdateMode.UpdateOnly}
# Point operations that select points by ids or by a filter.
_SELECTOR_OPS = {"delete_points", "set_payload", "overwrite_payload", "delete_payload", "clear_payload",
                 "delete_vectors"}
HNSW_DEFAULT = {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0,
                "on_disk": False}
OPTIMIZERS_DEFAULT = {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0,
                      "max_segment_size": None, "memmap_threshold": None, "indexing_threshold": 10000,
                      "flush_interval_sec": 5, "max_optimization_threads": None}
WAL_DEFAULT = {"wal_capacity_mb": 32, "wal_segments_ahead": 0}


def engine_call(fn, *args, **kwargs):
    """Run an engine call; its errors are the caller's wrong input (Qdrant answers 400 too)."""
    try:
        return fn(*args, **kwargs)
    except ApiError:
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - pyo3 panics derive from BaseException
        raise BadInput(str(exc)[:1000] or type(exc).__name__) from None


@dataclass
class Collection:
    name: str
    config: dict
    shard: Any
    path: Path
    payload_schema: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    # Per point: the stamp (origin time, origin) of the last write that touched it, deletes
    # included (tombstones), so that writes made concurrently on both nodes converge to the
    # newest one whatever order each node applies them in (last writer wins).
    stamps: dict[Any, tuple[float, str]] = field(default_factory=dict)
    # The (origin, seq) of the logged create that made it (set by the node): tells a snapshot's
    # collection apart from an older one of the same name, deleted and recreated since.
    created_by: list | None = None

    @property
    def vectors(self) -> dict:
        return self.config["vectors"]

    @property
    def sparse_vectors(self) -> dict:
        return self.config["sparse_vectors"]

    @property
    def write_consistency_factor(self) -> int | None:
        return self.config.get("write_consistency_factor")


def _vector_params(value: Any, name: str) -> dict:
    p = cv.obj(value, f"vector params `{name}`")
    size = p.get("size")
    cv.require(isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= MAX_DIM,
               f"vector size must be an integer between 1 and {MAX_DIM}")
    cv.require(p.get("distance") in cv.DISTANCES, "distance must be one of Cosine, Euclid, Dot, Manhattan")
    out = {"size": size, "distance": p["distance"]}
    if p.get("on_disk") is not None:
        cv.require(isinstance(p["on_disk"], bool), "on_disk must be a boolean")
        out["on_disk"] = p["on_disk"]
    if p.get("datatype") is not None:
        cv.require(p["datatype"] in DATATYPES, "datatype must be float32, float16 or uint8")
        out["datatype"] = p["datatype"]
    if p.get("multivector_config") is not None:
        mv = cv.obj(p["multivector_config"], "multivector_config")
        cv.require(mv.get("comparator") == "max_sim", "multivector comparator must be max_sim")
        out["multivector_config"] = {"comparator": "max_sim"}
    return out


def normalise_collection_config(body: dict) -> dict:
    """The create-collection body, validated and reduced to what the engine keeps."""
    cv.obj(body, "collection config")
    raw = body.get("vectors")
    if raw is None:
        raw = {}
    cv.obj(raw, "vectors")
    if "size" in raw or "distance" in raw:
        vectors, named = {"": _vector_params(raw, "")}, False
    else:
        vectors, named = {}, True
        for name, params in raw.items():
            cv.require(isinstance(name, str) and name != "", "vector names must be non-empty strings")
            vectors[name] = _vector_params(params, name)
    sparse = {}
    for name, params in (cv.obj(body.get("sparse_vectors") or {}, "sparse_vectors")).items():
        p = cv.obj(params or {}, f"sparse vector params `{name}`")
        cv.require(name not in vectors, f"vector name `{name}` is both dense and sparse")
        modifier = p.get("modifier")
        cv.require(modifier in (None, "none", "idf"), "sparse modifier must be none or idf")
        sparse[name] = {"modifier": modifier} if modifier else {}
    cv.require(bool(vectors) or bool(sparse), "a collection needs at least one vector (dense or sparse)")
    # None: the node's default write consistency applies.
    wcf = cv.uint(body.get("write_consistency_factor"), "write_consistency_factor", None, minimum=1, maximum=64)
    rf = cv.uint(body.get("replication_factor"), "replication_factor", 1, minimum=1, maximum=64)
    on_disk_payload = body.get("on_disk_payload")
    cv.require(on_disk_payload is None or isinstance(on_disk_payload, bool), "on_disk_payload must be a boolean")
    return {"vectors": vectors, "named": named, "sparse_vectors": sparse, "write_consistency_factor": wcf,
            "replication_factor": rf, "on_disk_payload": True if on_disk_payload is None else on_disk_payload}


def _edge_config(config: dict) -> qe.EdgeConfig:
    dense = {}
    for name, p in config["vectors"].items():
        dense[name] = qe.EdgeVectorParams(
            size=p["size"], distance=cv.DISTANCES[p["distance"]],
            multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim) if p.get("multivector_config") else None,
            datatype=DATATYPES.get(p.get("datatype", "")))
    sparse = {name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if p.get("modifier") == "idf" else None)
              for name, p in config["sparse_vectors"].items()}
    # The engine's own WAL is off: the node's operation log is the durable record.
    return qe.EdgeConfig(vectors=dense or None, sparse_vectors=sparse or None, wal_enabled=False)


def _index_schema(value: Any) -> tuple[Any, Any]:
    """A field_schema: "keyword" or {"type": "keyword", ...}; returns (edge schema, echo)."""
    if isinstance(value, str):
        cv.require(value in cv.SCHEMA_TYPES, f"unknown field schema `{value[:40]}`")
        return cv.SCHEMA_TYPES[value], value
    p = cv.obj(value, "field_schema")
    kind = p.get("type")
    cv.require(kind in cv.SCHEMA_TYPES, "field_schema.type must be a payload schema type")
    if kind == "keyword":
        is_tenant = p.get("is_tenant")
        cv.require(is_tenant is None or isinstance(is_tenant, bool), "is_tenant must be a boolean")
        return qe.KeywordIndexParams(is_tenant=is_tenant), p
    if kind == "integer":
        flags = {k: p.get(k) for k in ("lookup", "range", "is_principal")}
        cv.require(all(v is None or isinstance(v, bool) for v in flags.values()), "integer index flags must be booleans")
        return qe.IntegerIndexParams(**flags), p
    return cv.SCHEMA_TYPES[kind], p


class Engine:
    def __init__(self, shards_dir: Path) -> None:
        self.shards_dir = Path(shards_dir)
        # Shards are rebuilt from the operation log at start, so old shard files are stale.
        shutil.rmtree(self.shards_dir, ignore_errors=True)
        self.shards_dir.mkdir(parents=True, exist_ok=True)
        self.collections: dict[str, Collection] = {}
        self._stamp: tuple[float, str] | None = None
        self._touched: tuple[Collection, list] | None = None
        self._ops = {
            "create_collection": self._create_collection, "delete_collection": self._delete_collection,
            "update_collection": self._update_collection, "upsert": self._upsert, "delete_points": self._delete_points,
            "set_payload": self._set_payload, "overwrite_payload": self._overwrite_payload,
            "delete_payload": self._delete_payload, "clear_payload": self._clear_payload,
            "update_vectors": self._update_vectors, "delete_vectors": self._delete_vectors,
            "create_index": self._create_index, "delete_index": self._delete_index,
        }

    def close(self) -> None:
        for c in self.collections.values():
            try:
                c.shard.close()
            except Exception:  # noqa: BLE001 - closing on shutdown
                pass
        self.collections.clear()

    # --- operations ---------------------------------------------------------------------

    def apply(self, op: dict, *, replicated: bool = False, stamp: tuple[float, str] | None = None) -> Any:
        """Apply one operation; raises ApiError (nothing changed) when it is invalid.

        With a `stamp` (origin time, origin), a point operation skips every point that a
        newer write already touched (last writer wins). A replicated create of a collection
        that exists is a no-op: both DCs may create the same collection at start."""
        kind = op.get("op")
        handler = self._ops.get(kind)
        if handler is None:
            raise BadInput(f"unknown operation {kind!r}")
        if replicated and kind == "create_collection" and op["name"] in self.collections:
            return False
        self._stamp, self._touched = stamp, None
        try:
            result = handler(op)
            if stamp is not None and self._touched is not None:
                c, ids = self._touched
                for pid in ids:
                    c.stamps[pid] = stamp
            return result
        finally:
            self._stamp, self._touched = None, None

    def _admit(self, c: Collection, ids: list) -> list:
        """The ids this operation may touch: those no newer write has touched."""
        stamp = self._stamp
        if stamp is None:
            return ids
        admitted = [pid for pid in ids if (s := c.stamps.get(pid)) is None or s < stamp]
        self._touched = (c, admitted)
        return admitted

    def resolve_filters(self, op: dict) -> dict:
        """A point operation by filter, turned into the same operation on the ids the filter
        selects here and now: what is logged and replicated is the effect at its origin, so
        the peer neither re-evaluates the filter on different data nor misses a stamp."""
        if op.get("op") not in _SELECTOR_OPS or op.get("filter") is None:
            return op
        c = self.get(op["collection"])
        flt = cv.to_filter(op["filter"])
        ids, offset = [], None
        while True:
            records, offset = engine_call(c.shard.scroll, qe.ScrollRequest(
                offset=offset, limit=10_000, filter=flt, with_payload=False, with_vector=False))
            ids += [cv.id_out(r.id) for r in records]
            if offset is None:
                break
        resolved = {k: v for k, v in op.items() if k != "filter"}
        resolved["points"] = ids
        return resolved

    def get(self, name: str) -> Collection:
        c = self.collections.get(name)
        if c is None:
            raise NotFound(f"Collection `{name}` doesn't exist!")
        return c

    def _create_collection(self, op: dict) -> bool:
        name = cv.collection_name(op["name"])
        if name in self.collections:
            raise AlreadyExists(f"Collection `{name}` already exists!")
        self.add_collection(name, normalise_collection_config(op["config"]))
        return True

    def add_collection(self, name: str, config: dict) -> Collection:
        """A new, empty collection from an already normalised config (a create, or a snapshot)."""
        path = self.shards_dir / uuid.uuid4().hex
        shard = engine_call(qe.EdgeShard.create, str(path), _edge_config(config))
        c = self.collections[name] = Collection(name, config, shard, path)
        return c

    def _delete_collection(self, op: dict) -> bool:
        c = self.collections.pop(op["name"], None)
        if c is None:
            return False
        c.shard.close()
        shutil.rmtree(c.path, ignore_errors=True)
        return True

    def _update_collection(self, op: dict) -> bool:
        c = self.get(op["name"])
        patch = cv.obj(op.get("patch") or {}, "collection update")
        params = cv.obj(patch.get("params") or {}, "params")
        if params.get("write_consistency_factor") is not None:
            c.config["write_consistency_factor"] = cv.uint(params["write_consistency_factor"],
                                                           "write_consistency_factor", 1, minimum=1, maximum=64)
        if params.get("replication_factor") is not None:
            c.config["replication_factor"] = cv.uint(params["replication_factor"], "replication_factor", 1,
                                                     minimum=1, maximum=64)
        return True

    def _points(self, c: Collection, raw: list) -> list:
        cv.require(isinstance(raw, list), "points must be an array")
        points = {}
        for p in raw:
            p = cv.obj(p, "point")
            payload = p.get("payload")
            cv.require(payload is None or isinstance(payload, dict), "payload must be an object")
            cv.require("vector" in p, "point needs a vector")
            pid = cv.point_id(p.get("id"))
            points[pid] = qe.Point(pid, cv.vector_struct(p["vector"], c.config), payload)  # the last one wins
        admitted = self._admit(c, list(points))
        return [points[pid] for pid in admitted]

    def _upsert(self, op: dict) -> None:
        c = self.get(op["collection"])
        mode = op.get("update_mode")
        cv.require(mode is None or mode in UPDATE_MODES, "update_mode must be upsert, insert_only or update_only")
        condition = cv.to_filter(op.get("update_filter"))
        points = self._points(c, op["points"])
        if points:
            engine_call(c.shard.update, qe.UpdateOperation.upsert_points(
                points, condition=condition, update_mode=UPDATE_MODES.get(mode)))

    def _selector(self, op: dict, c: Collection):
        """(ids, None) or (None, filter); ids already reduced to those this write may touch."""
        if op.get("filter") is not None:
            return None, cv.to_filter(op["filter"])
        return self._admit(c, cv.point_ids(op.get("points"), "points")), None

    def _update_selected(self, op: dict, c: Collection, by_filter, by_ids, *args) -> None:
        """Apply an engine update to the points `op` selects: by its filter, or by its admitted ids."""
        ids, flt = self._selector(op, c)
        if flt is not None:
            engine_call(c.shard.update, by_filter(flt, *args))
        elif ids:
            engine_call(c.shard.update, by_ids(ids, *args))

    def _delete_points(self, op: dict) -> None:
        U = qe.UpdateOperation
        self._update_selected(op, self.get(op["collection"]), U.delete_points_by_filter, U.delete_points)

    def _set_payload(self, op: dict, overwrite: bool = False) -> None:
        c = self.get(op["collection"])
        payload = cv.obj(op.get("payload"), "payload")
        key = op.get("key")
        cv.require(key is None or isinstance(key, str), "key must be a string")
        U = qe.UpdateOperation
        if overwrite:
            self._update_selected(op, c, U.overwrite_payload_by_filter, U.overwrite_payload, payload, key)
        else:
            self._update_selected(op, c, U.set_payload_by_filter, U.set_payload, payload, key)

    def _overwrite_payload(self, op: dict) -> None:
        self._set_payload(op, overwrite=True)

    def _delete_payload(self, op: dict) -> None:
        c = self.get(op["collection"])
        keys = op.get("keys")
        cv.require(isinstance(keys, list) and all(isinstance(k, str) for k in keys), "keys must list field names")
        U = qe.UpdateOperation
        self._update_selected(op, c, U.delete_payload_by_filter, U.delete_payload, keys)

    def _clear_payload(self, op: dict) -> None:
        U = qe.UpdateOperation
        self._update_selected(op, self.get(op["collection"]), U.clear_payload_by_filter, U.clear_payload)

    def _update_vectors(self, op: dict) -> None:
        c = self.get(op["collection"])
        pvs = {}
        for p in cv.opt_list(op.get("points"), "points"):
            p = cv.obj(p, "point")
            pid = cv.point_id(p.get("id"))
            pvs[pid] = qe.PointVectors(pid, cv.vector_struct(p.get("vector"), c.config))
        cv.require(bool(pvs), "points must not be empty")
        admitted = self._admit(c, list(pvs))
        if admitted:
            engine_call(c.shard.update, qe.UpdateOperation.update_vectors([pvs[pid] for pid in admitted]))

    def _delete_vectors(self, op: dict) -> None:
        c = self.get(op["collection"])
        names = op.get("vector")
        cv.require(isinstance(names, list) and all(isinstance(n, str) for n in names), "vector must list vector names")
        U = qe.UpdateOperation
        self._update_selected(op, c, U.delete_vectors_by_filter, U.delete_vectors, names)

    def _create_index(self, op: dict) -> None:
        c = self.get(op["collection"])
        name = op.get("field_name")
        cv.require(isinstance(name, str) and name != "", "field_name must be a non-empty string")
        cv.require(op.get("field_schema") is not None, "field_schema is required")
        schema, echo = _index_schema(op["field_schema"])
        engine_call(c.shard.update, qe.UpdateOperation.create_field_index(name, schema))
        c.payload_schema[name] = echo

    def _delete_index(self, op: dict) -> None:
        c = self.get(op["collection"])
        name = op.get("field_name")
        cv.require(isinstance(name, str), "field_name must be a string")
        engine_call(c.shard.update, qe.UpdateOperation.delete_field_index(name))
        c.payload_schema.pop(name, None)

    # --- reads --------------------------------------------------------------------------

    def collection_info(self, name: str) -> dict:
        c = self.get(name)
        info = engine_call(c.shard.info)
        cfg = c.config
        vectors = cfg["vectors"][""] if not cfg["named"] else cfg["vectors"]
        params = {"vectors": vectors, "shard_number": 1, "replication_factor": cfg["replication_factor"],
                  "write_consistency_factor": cfg["write_consistency_factor"] or 1,
                  "on_disk_payload": cfg["on_disk_payload"]}
        if cfg["sparse_vectors"]:
            params["sparse_vectors"] = cfg["sparse_vectors"]
        schema = {}
        for key, idx in info.payload_schema.items():
            entry = {"data_type": cv.enum_name(idx.data_type), "points": idx.points}
            echo = c.payload_schema.get(key)
            if isinstance(echo, dict):
                entry["params"] = echo
            schema[key] = entry
        return {"status": "green", "optimizer_status": "ok", "indexed_vectors_count": info.indexed_vectors_count,
                "points_count": info.points_count, "segments_count": info.segments_count,
                "config": {"params": params, "hnsw_config": HNSW_DEFAULT, "optimizer_config": OPTIMIZERS_DEFAULT,
                           "wal_config": WAL_DEFAULT, "quantization_config": None},
                "payload_schema": schema}

    def digest(self) -> dict:
        """Per collection: point count and a hash of every (id, payload, vector), so two nodes
        can be compared after a heal (equal digests: same content)."""
        import hashlib

        from system.vectordb import jsonfast

        out = {}
        for name, c in sorted(self.collections.items()):
            h = hashlib.sha256()
            n, offset = 0, None
            while True:
                records, offset = engine_call(c.shard.scroll, qe.ScrollRequest(
                    offset=offset, limit=1000, with_payload=True, with_vector=True))
                for r in records:
                    rec = cv.record_out(r)
                    # Vectors rounded: the same float may print differently after a round trip.
                    rec["vector"] = _rounded(rec["vector"])
                    h.update(jsonfast.dumps(rec))
                    n += 1
                if offset is None:
                    break
            out[name] = {"points": n, "sha256": h.hexdigest()}
        return out

    def retrieve(self, name: str, ids: list, payload: Any = True, vector: Any = False) -> list[dict]:
        c = self.get(name)
        records = engine_call(c.shard.retrieve, ids, cv.with_payload(payload, True), cv.with_vector(vector))
        return [cv.record_out(r) for r in records]

    def count(self, name: str, body: dict) -> int:
        c = self.get(name)
        exact = body.get("exact", True)
        cv.require(isinstance(exact, bool), "exact must be a boolean")
        return engine_call(c.shard.count, qe.CountRequest(exact=exact, filter=cv.to_filter(body.get("filter"))))

    def scroll(self, name: str, body: dict) -> dict:
        c = self.get(name)
        order_by = body.get("order_by")
        offset = body.get("offset")
        req = qe.ScrollRequest(
            offset=cv.point_id(offset) if offset is not None else None,
            limit=cv.uint(body.get("limit"), "limit", DEFAULT_LIMIT, minimum=1),
            filter=cv.to_filter(body.get("filter")),
            with_payload=cv.with_payload(body.get("with_payload"), True),
            with_vector=cv.with_vector(body.get("with_vector")),
            order_by=_order_by(order_by) if order_by is not None else None)
        records, next_offset = engine_call(c.shard.scroll, req)
        return {"points": [cv.record_out(r) for r in records],
                "next_page_offset": cv.id_out(next_offset) if next_offset is not None else None}

    def search(self, name: str, body: dict) -> list[dict]:
        """The classic /points/search: a vector (or {name, vector}) and a filter."""
        c = self.get(name)
        cv.obj(body, "search request")
        raw = body.get("vector")
        using = None
        if isinstance(raw, dict) and "name" in raw:
            using = raw["name"]
            cv.require(isinstance(using, str), "vector.name must be a string")
            raw = raw.get("vector")
        cv.require(raw is not None, "vector is required")
        query = qe.Query.Nearest(self._query_vector(c, raw, using), using=using)
        limit = cv.uint(body.get("limit"), "limit", None, minimum=1)
        cv.require(limit is not None, "limit is required")
        req = qe.SearchRequest(query=query, limit=limit, offset=cv.uint(body.get("offset"), "offset", 0),
                               filter=cv.to_filter(body.get("filter")), params=cv.search_params(body.get("params")),
                               with_vector=cv.with_vector(body.get("with_vector")),
                               with_payload=cv.with_payload(body.get("with_payload"), False),
                               score_threshold=cv.score_threshold(body.get("score_threshold")))
        return [cv.scored_out(p) for p in engine_call(c.shard.search, req)]

    def query(self, name: str, body: dict) -> list[dict]:
        """The universal /points/query: vectors, ids, recommend, fusion of prefetches, order_by."""
        c = self.get(name)
        cv.obj(body, "query request")
        cv.require(body.get("lookup_from") is None, "lookup_from is not supported by this node")
        cv.require(body.get("shard_key") is None, "shard keys are not supported by this node")
        query, extra_filter = self._scoring_query(c, body)
        flt = cv.to_filter(body.get("filter"))
        if extra_filter is not None:
            flt = qe.Filter(must=[flt], must_not=[extra_filter]) if flt is not None else qe.Filter(must_not=[extra_filter])
        req = qe.QueryRequest(
            limit=cv.uint(body.get("limit"), "limit", DEFAULT_LIMIT), offset=cv.uint(body.get("offset"), "offset", 0),
            query=query, prefetches=self._prefetches(c, body.get("prefetch")),
            with_vector=cv.with_vector(body.get("with_vector")),
            with_payload=cv.with_payload(body.get("with_payload"), False), filter=flt,
            score_threshold=cv.score_threshold(body.get("score_threshold")),
            params=cv.search_params(body.get("params")))
        return [cv.scored_out(p) for p in engine_call(c.shard.query, req)]

    def _prefetches(self, c: Collection, raw: Any) -> list | None:
        if raw is None:
            return None
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for p in items:
            p = cv.obj(p, "prefetch")
            query, extra = self._scoring_query(c, p)
            flt = cv.to_filter(p.get("filter"))
            if extra is not None:
                flt = qe.Filter(must=[flt], must_not=[extra]) if flt is not None else qe.Filter(must_not=[extra])
            cv.require(p.get("lookup_from") is None, "lookup_from is not supported by this node")
            out.append(qe.Prefetch(limit=cv.uint(p.get("limit"), "prefetch.limit", DEFAULT_LIMIT), query=query,
                                   prefetches=self._prefetches(c, p.get("prefetch")),
                                   params=cv.search_params(p.get("params")), filter=flt,
                                   score_threshold=cv.score_threshold(p.get("score_threshold"))))
        return out

    def _query_vector(self, c: Collection, raw: Any, using: str | None):
        """A vector given inline, or a point id whose stored vector is used."""
        name = using or ""
        if isinstance(raw, (int, str)) and not isinstance(raw, bool):
            pid = cv.point_id(raw)
            records = engine_call(c.shard.retrieve, [pid], False, [name])
            cv.require(bool(records), f"No point with id {pid} found")
            vec = records[0].vector
            if isinstance(vec, dict):
                vec = vec.get(name)
            cv.require(vec is not None, f"point {pid} has no vector `{name}`")
            return vec
        if name in c.sparse_vectors:
            return cv.named_vector(raw, None, True, name)
        return cv.named_vector(raw, c.vectors.get(name), False, name)

    def _scoring_query(self, c: Collection, body: dict):
        """(edge query, ids to exclude) for a Query / VectorInput of the REST API."""
        raw = body.get("query")
        using = body.get("using")
        cv.require(using is None or isinstance(using, str), "using must be a vector name")
        if raw is None:
            return None, None
        exclude = None
        if isinstance(raw, (int, str)) and not isinstance(raw, bool):
            exclude = qe.HasIdCondition({cv.point_id(raw)})
            return qe.Query.Nearest(self._query_vector(c, raw, using), using=using), exclude
        if isinstance(raw, list) or (isinstance(raw, dict) and {"indices", "values"} <= set(raw)):
            return qe.Query.Nearest(self._query_vector(c, raw, using), using=using), None
        q = cv.obj(raw, "query")
        if "nearest" in q:
            cv.require(q.get("mmr") is None, "mmr is not supported by this node")
            nearest = q["nearest"]
            if isinstance(nearest, (int, str)) and not isinstance(nearest, bool):
                exclude = qe.HasIdCondition({cv.point_id(nearest)})
            return qe.Query.Nearest(self._query_vector(c, nearest, using), using=using), exclude
        if "recommend" in q:
            r = cv.obj(q["recommend"], "recommend")
            pos_raw, neg_raw = cv.opt_list(r.get("positive"), "positive"), cv.opt_list(r.get("negative"), "negative")
            cv.require(bool(pos_raw) or bool(neg_raw), "recommend needs positive or negative examples")
            ids = [cv.point_id(x) for x in pos_raw + neg_raw if isinstance(x, (int, str)) and not isinstance(x, bool)]
            exclude = qe.HasIdCondition(set(ids)) if ids else None
            pos = [self._query_vector(c, x, using) for x in pos_raw]
            neg = [self._query_vector(c, x, using) for x in neg_raw]
            strategy = r.get("strategy") or "average_vector"
            if strategy == "average_vector":
                cv.require(bool(pos), "average_vector needs at least one positive example")
                cv.require(all(isinstance(v, list) and v and not isinstance(v[0], list) for v in pos + neg),
                           "average_vector works on dense vectors")
                avg = [sum(col) / len(pos) for col in zip(*pos)]
                if neg:
                    avg_neg = [sum(col) / len(neg) for col in zip(*neg)]
                    avg = [a + (a - b) for a, b in zip(avg, avg_neg)]
                return qe.Query.Nearest(avg, using=using), exclude
            rq = qe.RecommendQuery(pos, neg)
            if strategy == "best_score":
                return qe.Query.RecommendBestScore(rq, using=using), exclude
            if strategy == "sum_scores":
                return qe.Query.RecommendSumScores(rq, using=using), exclude
            raise BadInput("recommend strategy must be average_vector, best_score or sum_scores")
        if "fusion" in q:
            cv.require(q["fusion"] in ("rrf", "dbsf"), "fusion must be rrf or dbsf")
            return (qe.Fusion.Rrf(k=2) if q["fusion"] == "rrf" else qe.Fusion.Dbsf()), None
        if "rrf" in q:
            r = cv.obj(q["rrf"], "rrf")
            k = cv.uint(r.get("k"), "rrf.k", 2, minimum=1)
            weights = r.get("weights")
            if weights is not None:
                weights = cv.dense(weights, "rrf.weights")
            return qe.Fusion.Rrf(k=k, weights=weights), None
        if "order_by" in q:
            return _order_by(q["order_by"]), None
        if "sample" in q:
            cv.require(q["sample"] == "random", "sample must be random")
            return qe.Sample.Random, None
        raise BadInput("unsupported query: use a vector, a point id, nearest, recommend, fusion, rrf, "
                       "order_by or sample")


def _rounded(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 5)
    if isinstance(v, list):
        return [_rounded(x) for x in v]
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in sorted(v.items())}
    return v


def _order_by(value: Any) -> qe.OrderBy:
    if isinstance(value, str):
        return qe.OrderBy(value)
    o = cv.obj(value, "order_by")
    key = o.get("key")
    cv.require(isinstance(key, str) and key != "", "order_by.key must be a field name")
    direction = o.get("direction")
    cv.require(direction in (None, "asc", "desc"), "order_by.direction must be asc or desc")
    start = o.get("start_from")
    cv.require(start is None or (isinstance(start, (int, float, str)) and not isinstance(start, bool)),
               "order_by.start_from must be a number or a datetime")
    return qe.OrderBy(key, direction={"asc": qe.Direction.Asc, "desc": qe.Direction.Desc}.get(direction),
                      start_from=start)
