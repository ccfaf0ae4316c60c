"""The point operations: upsert, delete, set / overwrite / delete / clear payload, update and
delete vectors. Each is `f(collection, op, admit)`, writing to the shard only the points that
`admit` (a `selection.Admission`) lets it touch.

    OPS["upsert"](c, {"op": "upsert", "collection": "docs",
                      "points": [{"id": 1, "vector": [1, 0, 0, 0], "payload": {"doc_id": "a"}}]}, admit)
"""

from __future__ import annotations

import qdrant_edge as qe

from system.vectordb import convert as cv
from system.vectordb.collection import Collection, engine_call
from system.vectordb.selection import Admission, update_selected

UPDATE_MODES = {"upsert": qe.UpdateMode.Upsert, "insert_only": qe.UpdateMode.InsertOnly,
                "update_only": qe.UpdateMode.UpdateOnly}
U = qe.UpdateOperation


def _points(c: Collection, raw: list, admit: Admission) -> list:
    cv.require(isinstance(raw, list), "points must be an array")
    points = {}
    for p in raw:
        p = cv.obj(p, "point")
        payload = p.get("payload")
        cv.require(payload is None or isinstance(payload, dict), "payload must be an object")
        cv.require("vector" in p, "point needs a vector")
        pid = cv.point_id(p.get("id"))
        points[pid] = qe.Point(pid, cv.vector_struct(p["vector"], c.config), payload)  # the last one wins
    return [points[pid] for pid in admit(list(points))]


def upsert(c: Collection, op: dict, admit: Admission) -> None:
    mode = op.get("update_mode")
    cv.require(mode is None or (isinstance(mode, str) and mode in UPDATE_MODES),
               "update_mode must be upsert, insert_only or update_only")
    condition = cv.to_filter(op.get("update_filter"))
    points = _points(c, op["points"], admit)
    if points:
        engine_call(c.shard.update, U.upsert_points(points, condition=condition, update_mode=UPDATE_MODES.get(mode)))


def delete_points(c: Collection, op: dict, admit: Admission) -> None:
    update_selected(op, c, admit, U.delete_points_by_filter, U.delete_points)


def _payload_and_key(op: dict) -> tuple[dict, str | None]:
    payload = cv.obj(op.get("payload"), "payload")
    key = op.get("key")
    return payload, key if key is None else cv.field_path(key, "key")


def set_payload(c: Collection, op: dict, admit: Admission) -> None:
    update_selected(op, c, admit, U.set_payload_by_filter, U.set_payload, *_payload_and_key(op))


def overwrite_payload(c: Collection, op: dict, admit: Admission) -> None:
    update_selected(op, c, admit, U.overwrite_payload_by_filter, U.overwrite_payload, *_payload_and_key(op))


def delete_payload(c: Collection, op: dict, admit: Admission) -> None:
    keys = op.get("keys")
    cv.field_paths(keys, "keys")
    update_selected(op, c, admit, U.delete_payload_by_filter, U.delete_payload, keys)


def clear_payload(c: Collection, op: dict, admit: Admission) -> None:
    update_selected(op, c, admit, U.clear_payload_by_filter, U.clear_payload)


def update_vectors(c: Collection, op: dict, admit: Admission) -> None:
    pvs = {}
    for p in cv.opt_list(op.get("points"), "points"):
        p = cv.obj(p, "point")
        pid = cv.point_id(p.get("id"))
        pvs[pid] = qe.PointVectors(pid, cv.vector_struct(p.get("vector"), c.config))
    cv.require(bool(pvs), "points must not be empty")
    admitted = admit(list(pvs))
    if admitted:
        engine_call(c.shard.update, U.update_vectors([pvs[pid] for pid in admitted]))


def delete_vectors(c: Collection, op: dict, admit: Admission) -> None:
    names = op.get("vector")
    cv.require(isinstance(names, list) and all(isinstance(n, str) for n in names), "vector must list vector names")
    for name in names:  # checked even when no point is selected, as Qdrant does
        cv.require(name in c.vectors or name in c.sparse_vectors,
                   f"Not existing vector name error: {name[:80]}")
    update_selected(op, c, admit, U.delete_vectors_by_filter, U.delete_vectors, names)


OPS = {"upsert": upsert, "delete_points": delete_points, "set_payload": set_payload,
       "overwrite_payload": overwrite_payload, "delete_payload": delete_payload, "clear_payload": clear_payload,
       "update_vectors": update_vectors, "delete_vectors": delete_vectors}
