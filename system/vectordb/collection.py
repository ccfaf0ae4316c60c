"""One collection: its config (validated and normalised), its qdrant-edge shard, its payload
indexes, and what GET /collections/{name} reports of it.

    >>> config = normalise_collection_config({"vectors": {"size": 4, "distance": "Cosine"}})
    >>> config["vectors"], config["named"], config["write_consistency_factor"]
    ({'': {'size': 4, 'distance': 'Cosine'}}, False, None)

    shard = engine_call(qe.EdgeShard.create, str(path), edge_config(config))
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from system.vectordb import convert as cv
from system.vectordb.errors import ApiError, BadInput, NotFound

MAX_DIM = 65536
DATATYPES = {"float32": qe.VectorStorageDatatype.Float32, "float16": qe.VectorStorageDatatype.Float16,
             "uint8": qe.VectorStorageDatatype.Uint8}
HNSW_DEFAULT = {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0,
                "on_disk": False}
OPTIMIZERS_DEFAULT = {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0,
                      "max_segment_size": None, "memmap_threshold": None, "indexing_threshold": 10000,
                      "flush_interval_sec": 5, "max_optimization_threads": None}
WAL_DEFAULT = {"wal_capacity_mb": 32, "wal_segments_ahead": 0}


_MISSING_POINT = re.compile(r"^No point with id ")


def engine_call(fn, *args, **kwargs):
    """Run an engine call; its errors are the caller's wrong input (Qdrant answers 400 too)."""
    try:
        return fn(*args, **kwargs)
    except ApiError:
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - pyo3 panics derive from BaseException
        message = str(exc)[:1000] or type(exc).__name__
        if _MISSING_POINT.search(message):
            raise NotFound(message) from None  # Qdrant's 404: a write to points that do not exist
        raise BadInput(message) from None


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


# --- config ---------------------------------------------------------------------------------


def _vector_params(value: Any, name: str) -> dict:
    p = cv.obj(value, f"vector params `{name}`")
    size = cv.integral(p.get("size"))
    cv.require(size is not None and 1 <= size <= MAX_DIM,
               f"vector size must be an integer between 1 and {MAX_DIM}")
    out = {"size": size,
           "distance": cv.named(p.get("distance"), cv.DISTANCES, "distance must be one of Cosine, Euclid, Dot, Manhattan")}
    if p.get("on_disk") is not None:
        cv.require(isinstance(p["on_disk"], bool), "on_disk must be a boolean")
        out["on_disk"] = p["on_disk"]
    if p.get("datatype") is not None:
        out["datatype"] = cv.named(p["datatype"], DATATYPES, "datatype must be float32, float16 or uint8")
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
            cv.vector_name(name)
            vectors[name] = _vector_params(params, name)
    sparse = {}
    raw_sparse = body.get("sparse_vectors")
    for name, params in cv.obj({} if raw_sparse is None else raw_sparse, "sparse_vectors").items():
        cv.vector_name(name)
        p = cv.obj({} if params is None else params, f"sparse vector params `{name}`")
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


def edge_config(config: dict) -> qe.EdgeConfig:
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


def update_params(c: Collection, patch: Any) -> None:
    """PATCH /collections/{name}: the params this node keeps (write consistency, replication factor)."""
    patch = cv.obj(patch or {}, "collection update")
    params = {} if patch.get("params") is None else cv.obj(patch["params"], "params")  # false is no object
    if params.get("write_consistency_factor") is not None:
        c.config["write_consistency_factor"] = cv.uint(params["write_consistency_factor"],
                                                       "write_consistency_factor", 1, minimum=1, maximum=64)
    if params.get("replication_factor") is not None:
        c.config["replication_factor"] = cv.uint(params["replication_factor"], "replication_factor", 1,
                                                 minimum=1, maximum=64)


# --- payload indexes ------------------------------------------------------------------------


def _index_schema(value: Any) -> tuple[Any, Any]:
    """A field_schema: "keyword" or {"type": "keyword", ...}; returns (edge schema, echo)."""
    if isinstance(value, str):
        cv.require(value in cv.SCHEMA_TYPES, f"unknown field schema `{value[:40]}`")
        return cv.SCHEMA_TYPES[value], value
    p = cv.obj(value, "field_schema")
    kind = cv.named(p.get("type"), cv.SCHEMA_TYPES, "field_schema.type must be a payload schema type")
    cv.require(all(p.get(k) is None or isinstance(p.get(k), bool) for k in ("is_tenant", "lookup", "range", "is_principal")),
               "field_schema flags (is_tenant, lookup, range, is_principal) must be booleans")
    if kind == "keyword":
        is_tenant = p.get("is_tenant")
        cv.require(is_tenant is None or isinstance(is_tenant, bool), "is_tenant must be a boolean")
        return qe.KeywordIndexParams(is_tenant=is_tenant), p
    if kind == "integer":
        flags = {k: p.get(k) for k in ("lookup", "range", "is_principal")}
        cv.require(all(v is None or isinstance(v, bool) for v in flags.values()), "integer index flags must be booleans")
        return qe.IntegerIndexParams(**flags), p
    return cv.SCHEMA_TYPES[kind], p


def create_index(c: Collection, op: dict) -> None:
    name = op.get("field_name")
    cv.field_path(name, "field_name")
    cv.require(op.get("field_schema") is not None, "field_schema is required")
    schema, echo = _index_schema(op["field_schema"])
    engine_call(c.shard.update, qe.UpdateOperation.create_field_index(name, schema))
    c.payload_schema[name] = echo


def delete_index(c: Collection, op: dict) -> None:
    name = op.get("field_name")
    cv.field_path(name, "field_name")
    engine_call(c.shard.update, qe.UpdateOperation.delete_field_index(name))
    c.payload_schema.pop(name, None)


# --- info -----------------------------------------------------------------------------------


def info(c: Collection) -> dict:
    """Qdrant's CollectionInfo: counts from the shard, params from the config, the payload schema."""
    shard_info = engine_call(c.shard.info)
    cfg = c.config
    vectors = cfg["vectors"][""] if not cfg["named"] else cfg["vectors"]
    params = {"vectors": vectors, "shard_number": 1, "replication_factor": cfg["replication_factor"],
              "write_consistency_factor": cfg["write_consistency_factor"] or 1,
              "on_disk_payload": cfg["on_disk_payload"]}
    if cfg["sparse_vectors"]:
        params["sparse_vectors"] = cfg["sparse_vectors"]
    schema = {}
    for key, idx in shard_info.payload_schema.items():
        entry = {"data_type": cv.enum_name(idx.data_type), "points": idx.points}
        echo = c.payload_schema.get(key)
        if isinstance(echo, dict):
            entry["params"] = echo
        schema[key] = entry
    return {"status": "green", "optimizer_status": "ok", "indexed_vectors_count": shard_info.indexed_vectors_count,
            "points_count": shard_info.points_count, "segments_count": shard_info.segments_count,
            "config": {"params": params, "hnsw_config": HNSW_DEFAULT, "optimizer_config": OPTIMIZERS_DEFAULT,
                       "wal_config": WAL_DEFAULT, "quantization_config": None},
            "payload_schema": schema}
