"""Which points a write touches: the ids it names or its filter selects, less those a newer
write already touched (last writer wins per point), and stamping the ones it did touch.

    >>> c = Collection("docs", config={}, shard=None, path=None)
    >>> c.stamps[2] = (9.0, "dc2")            # a newer write touched point 2
    >>> admit = Admission(c, stamp=(5.0, "dc1"))
    >>> admit([1, 2, 3])                      # apply the write to these only
    [1, 3]
    >>> admit.stamp_touched(); c.stamps[1], c.stamps[2]
    ((5.0, 'dc1'), (9.0, 'dc2'))
"""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe

from system.vectordb import convert as cv
from system.vectordb.collection import Collection, engine_call

# Point operations that select points by ids or by a filter.
SELECTOR_OPS = {"delete_points", "set_payload", "overwrite_payload", "delete_payload", "clear_payload",
                "delete_vectors"}


class Admission:
    """The ids one write to `c` may touch: all of them unstamped; with a stamp, those no newer
    write has touched (the write remembers them for `stamp_touched`)."""

    def __init__(self, c: Collection, stamp: tuple[float, str] | None) -> None:
        self.c = c
        self.stamp = stamp
        self.touched: list | None = None

    def __call__(self, ids: list) -> list:
        stamp = self.stamp
        if stamp is None:
            return ids
        stamps = self.c.stamps
        self.touched = [pid for pid in ids if (s := stamps.get(pid)) is None or s < stamp]
        return self.touched

    def stamp_touched(self) -> None:
        if self.stamp is not None and self.touched is not None:
            for pid in self.touched:
                self.c.stamps[pid] = self.stamp


def resolve_filter(c: Collection, op: dict) -> dict:
    """The operation on the ids its filter selects in `c` here and now (see Engine.resolve_filters)."""
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


def update_selected(op: dict, c: Collection, admit: Admission, by_filter, by_ids, *args: Any) -> None:
    """Apply an engine update to the points `op` selects: by its filter, or by its admitted ids."""
    if op.get("filter") is not None:
        engine_call(c.shard.update, by_filter(cv.to_filter(op["filter"]), *args))
        return
    ids = admit(cv.point_ids(op.get("points"), "points"))
    if ids:
        engine_call(c.shard.update, by_ids(ids, *args))
