"""A node's state as a snapshot: what the compacted prefix of the operation log amounted to.

A snapshot is a sequence of parts (plain JSON objects), each one line of the snapshot file and
one request to a peer (POST /replication/snapshot):

    {"kind": "header", "watermarks", "clock_floor", "collections": [{"name", "config", "payload_schema", "created_by"}]}
    {"kind": "points", "collection", "points": [{"id", "vector", "payload", "stamp": [ts, origin]}]}
    {"kind": "tombstones", "collection", "stamps": [[id, ts, origin], ...]}
    {"kind": "end", "watermarks", "clock_floor", "collections": [name, ...]}

Parts are produced one at a time on the event loop, so writes go on between them: the
snapshot is fuzzy, like a database's fuzzy checkpoint. It contains every entry up to its
watermarks (taken with the header) and maybe some later ones; replaying those later entries on
top changes nothing twice, because each point carries the stamp of the write that made it
(last writer wins skips an equal stamp). Tombstones are the stamps of points absent when the
header was taken, so a point created later and not exported is not buried by them.

Installing merges instead of replacing: each point is taken only if its stamp is newer than
the one here. A node that receives a snapshot may hold writes of its own that the sender never
saw (acknowledged at consistency 1, not shipped yet); replacing would lose them, while the
per-point merge is exactly what applying the sender's entries would have done.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import qdrant_edge as qe

from system.vectordb import convert as cv
from system.vectordb import jsonfast
from system.vectordb.collection import Collection, engine_call, normalise_collection_config
from system.vectordb.engine import Engine
from system.vectordb.errors import BadInput
from system.vectordb.oplog import fsync_dir

# A part holds at most this many vector numbers (about 2.5 MB of JSON) and never more than
# POINTS_PER_PART points: far below the request body limit (HALAB_VECTORDB_MAX_BODY_BYTES,
# 64 MiB), and small enough that installing one part keeps the receiver's loop responsive.
FLOATS_PER_PART = 1 << 17
POINTS_PER_PART = 512
TOMBSTONES_PER_PART = 10_000


def _points_per_part(c: Collection) -> int:
    width = sum(p["size"] for p in c.vectors.values()) or 1
    return max(1, min(POINTS_PER_PART, FLOATS_PER_PART // width))


def parts(engine: Engine, watermarks: dict[str, int], clock_floor: float) -> Iterator[dict]:
    """The engine's state, part by part; `watermarks` must be taken in the same loop turn as
    the first part."""
    marks = dict(watermarks)
    cols = list(engine.collections.values())
    absent_stamps = {c.name: dict(c.stamps) for c in cols}
    yield {"kind": "header", "watermarks": marks, "clock_floor": clock_floor,
           "collections": [{"name": c.name, "config": c.config, "payload_schema": c.payload_schema,
                            "created_by": c.created_by} for c in cols]}
    for c in cols:
        exported, offset = set(), None
        # A collection deleted (or recreated) meanwhile: its delete is a later entry, replayed after.
        while engine.collections.get(c.name) is c:
            records, offset = engine_call(c.shard.scroll, qe.ScrollRequest(
                offset=offset, limit=_points_per_part(c), with_payload=True, with_vector=True))
            points = []
            for r in records:
                pid = cv.id_out(r.id)
                exported.add(pid)
                points.append({"id": pid, "vector": cv.vector_out(r.vector), "payload": r.payload,
                                "stamp": c.stamps.get(pid)})
            if points:
                yield {"kind": "points", "collection": c.name, "points": points}
            if offset is None:
                break
        tombstones = [[pid, s[0], s[1]] for pid, s in absent_stamps[c.name].items() if pid not in exported]
        for i in range(0, len(tombstones), TOMBSTONES_PER_PART):
            yield {"kind": "tombstones", "collection": c.name, "stamps": tombstones[i:i + TOMBSTONES_PER_PART]}
    yield {"kind": "end", "watermarks": marks, "clock_floor": clock_floor, "collections": [c.name for c in cols]}


def _newer(theirs, ours) -> bool:
    if ours is None:
        return True
    return theirs is not None and tuple(ours) < tuple(theirs)


def _stamp(value, what: str) -> None:
    cv.require(value is None or (isinstance(value, (list, tuple)) and len(value) == 2 and cv.is_number(value[0])
                                 and isinstance(value[1], str)), f"{what} must be [ts, origin]")


def _vector_shape(value) -> None:
    """A point's vectors as the document's VectorStruct states them, whether or not the
    collection is here (absent, the part is skipped, but a malformed one is still refused)."""
    def one(v, name: str) -> None:
        if isinstance(v, dict):
            cv.named_vector(v, None, True, name)  # sparse
        elif isinstance(v, list) and v and all(isinstance(r, list) for r in v):
            for row in v:
                cv.dense(row, name)
        else:
            cv.dense(v, name)
    if isinstance(value, dict):
        for name, v in value.items():
            one(v, name)
    elif value is not None:
        one(value, "vector")


def check_part(part: dict) -> None:
    """A points or tombstones part's shape, refused whole (400) before anything is merged."""
    kind = part.get("kind")
    if kind not in ("points", "tombstones"):
        return
    cv.require(isinstance(part.get("collection"), str), "collection must be a collection name")
    if kind == "points":
        for p in cv.opt_list(part.get("points"), "points"):
            p = cv.obj(p, "point")
            cv.point_id(p.get("id"))
            cv.require(p.get("payload") is None or isinstance(p["payload"], dict), "payload must be an object")
            _stamp(p.get("stamp"), "stamp")
            _vector_shape(p.get("vector"))
        return
    for t in cv.opt_list(part.get("stamps"), "stamps"):
        cv.require(isinstance(t, (list, tuple)) and len(t) == 3, "a tombstone is [id, ts, origin]")
        cv.point_id(t[0])
        _stamp(t[1:], "a tombstone's stamp")


def merge(engine: Engine, part: dict) -> None:
    """Install a header, points or tombstones part (the end part is the node's: it moves the log)."""
    check_part(part)
    kind = part.get("kind")
    if kind == "header":
        for col in cv.opt_list(part.get("collections"), "collections"):
            _merge_collection(engine, cv.obj(col, "collection"))
        return
    if kind not in ("points", "tombstones"):
        raise BadInput(f"unknown snapshot part {kind!r}")
    c = engine.collections.get(part.get("collection"))
    if c is None:
        return  # deleted here since the header: the end part settles whether it stays deleted
    if kind == "points":
        points = {}
        for p in cv.opt_list(part.get("points"), "points"):
            pid = cv.point_id(p.get("id"))
            stamp = p.get("stamp")
            if _newer(stamp, c.stamps.get(pid)):
                vector = p.get("vector")  # [] is no vector: only null (absent) stands for none
                points[pid] = (qe.Point(pid, cv.vector_struct({} if vector is None else vector, c.config),
                                        p.get("payload")), stamp)
        if points:
            engine_call(c.shard.update, qe.UpdateOperation.upsert_points([pt for pt, _ in points.values()]))
        for pid, (_, stamp) in points.items():
            if stamp is not None:
                c.stamps[pid] = (float(stamp[0]), str(stamp[1]))
    else:
        buried = {}
        for pid, ts, origin in cv.opt_list(part.get("stamps"), "stamps"):
            pid = cv.point_id(pid)
            if _newer((ts, origin), c.stamps.get(pid)):
                buried[pid] = (float(ts), str(origin))
        if buried:
            engine_call(c.shard.update, qe.UpdateOperation.delete_points(list(buried)))
            c.stamps.update(buried)


def _kept_config(raw) -> dict:
    """A header's config, checked as a create would be: the normalised form of itself."""
    config = cv.obj(raw, "config")
    named, vectors = config.get("named"), cv.obj(config.get("vectors"), "config.vectors")
    cv.require(isinstance(named, bool), "config.named must be a boolean")
    cv.require(named or set(vectors) == {""}, "an unnamed vector is kept under the name \"\"")
    return normalise_collection_config({**config, "vectors": vectors if named else vectors[""]})


def _merge_collection(engine: Engine, col: dict) -> None:
    cv.require(isinstance(col.get("name"), str), "collection name must be a string")
    name = cv.collection_name(col["name"])
    created_by = col.get("created_by")
    cv.require(created_by is None or (isinstance(created_by, list) and len(created_by) == 2
                                      and isinstance(created_by[0], str) and cv.integral(created_by[1]) is not None),
               "created_by must be [origin, seq]")
    config = _kept_config(col.get("config"))
    c = engine.collections.get(name)
    if c is None:
        c = engine.add_collection(name, config)
        c.created_by = created_by
    indexes = col.get("payload_schema")
    for field, schema in cv.obj({} if indexes is None else indexes, "payload_schema").items():
        if field not in c.payload_schema:
            engine.apply({"op": "create_index", "collection": name, "field_name": field, "field_schema": schema})


def drop_unlisted(engine: Engine, end: dict) -> None:
    """Collections the snapshot lacks although its sender saw them created were deleted there;
    those created after its watermarks (ours, or a third node's, not seen there) stay."""
    marks, listed = end["watermarks"], set(end["collections"])
    for name, c in list(engine.collections.items()):
        seen = c.created_by is None or marks.get(c.created_by[0], 0) >= c.created_by[1]
        if name not in listed and seen:
            engine.apply({"op": "delete_collection", "name": name})


async def write_file(path: Path, source: Iterator[dict]) -> tuple[int, int]:
    """Write a snapshot atomically (temp file, fsync, rename); returns (bytes, points). Each part
    is produced on the loop and written in a thread, so writes are served in between."""
    tmp = path.with_name(path.name + ".tmp")
    size = points = 0
    with tmp.open("wb") as f:
        for part in source:
            line = jsonfast.dumps(part) + b"\n"
            size += len(line)
            points += len(part.get("points", ()))
            await asyncio.to_thread(f.write, line)
        await asyncio.to_thread(_flush_and_sync, f)
    await asyncio.to_thread(_publish, tmp, path)
    return size, points


def _flush_and_sync(f) -> None:
    f.flush()
    os.fsync(f.fileno())


def _publish(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_file(path: Path) -> Iterator[dict]:
    """The parts of a snapshot file, one at a time (it may be large); written by rename, so it
    is whole or absent, and a missing end part means someone else truncated it."""
    last = None
    with path.open("rb") as f:
        for line in f:
            last = jsonfast.loads(line)
            yield last
    if last is None or last.get("kind") != "end":
        raise RuntimeError(f"{path}: a snapshot without its end part")
