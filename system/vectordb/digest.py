"""A content hash per collection, so two nodes can be compared after a heal (equal digests:
same points, payloads and vectors).

    digest(engine.collections)   # -> {"docs": {"points": 1200, "sha256": "9f2c..."}}
"""

from __future__ import annotations

import hashlib
from typing import Any

import qdrant_edge as qe

from system.vectordb import convert as cv
from system.vectordb import jsonfast
from system.vectordb.collection import Collection, engine_call


def digest(collections: dict[str, Collection]) -> dict:
    """Per collection: point count and a hash of every (id, payload, vector)."""
    out = {}
    for name, c in sorted(collections.items()):
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


def _rounded(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 5)
    if isinstance(v, list):
        return [_rounded(x) for x in v]
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in sorted(v.items())}
    return v
