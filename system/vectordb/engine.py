"""Collections of points over qdrant-edge shards: Qdrant's data model in one process.

The engine applies *operations* — plain JSON dicts, the unit that is logged and replicated —
and answers reads. It knows nothing of HTTP or of the peer.

    engine = Engine(Path("/tmp/vdb"))
    engine.apply({"op": "create_collection", "name": "docs",
                  "config": {"vectors": {"size": 4, "distance": "Cosine"}}})
    engine.apply({"op": "upsert", "collection": "docs",
                  "points": [{"id": 1, "vector": [1, 0, 0, 0], "payload": {"doc_id": "a"}}]})
    engine.query("docs", {"query": [1, 0, 0, 0], "limit": 3})

One module per part: `collection.py` (config, shard, indexes, info), `point_writes.py` (the
point operations), `selection.py` (which points a write touches; last writer wins),
`search.py` (the reads), `digest.py` (a content hash to compare nodes).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from system.vectordb import convert as cv
from system.vectordb import point_writes, search
from system.vectordb.collection import Collection, create_index, delete_index, edge_config, engine_call, info, normalise_collection_config, update_params
from system.vectordb.digest import digest as content_digest
from system.vectordb.errors import AlreadyExists, BadInput, NotFound
from system.vectordb.selection import SELECTOR_OPS, Admission, resolve_filter

# Operations on one collection's payload indexes: f(collection, op), never stamped.
_INDEX_OPS = {"create_index": create_index, "delete_index": delete_index}


class Engine:
    def __init__(self, shards_dir: Path) -> None:
        self.shards_dir = Path(shards_dir)
        # Shards are rebuilt from the operation log at start, so old shard files are stale.
        shutil.rmtree(self.shards_dir, ignore_errors=True)
        self.shards_dir.mkdir(parents=True, exist_ok=True)
        self.collections: dict[str, Collection] = {}
        self._collection_ops = {"create_collection": self._create_collection,
                                "delete_collection": self._delete_collection,
                                "update_collection": self._update_collection}

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
        if kind in self._collection_ops:
            if replicated and kind == "create_collection" and op["name"] in self.collections:
                return False
            return self._collection_ops[kind](op)
        if kind in _INDEX_OPS:
            return _INDEX_OPS[kind](self.get(op["collection"]), op)
        write = point_writes.OPS.get(kind)
        if write is None:
            raise BadInput(f"unknown operation {kind!r}")
        c = self.get(op["collection"])
        admit = Admission(c, stamp)
        result = write(c, op, admit)
        admit.stamp_touched()
        return result

    def resolve_filters(self, op: dict) -> dict:
        """A point operation by filter, turned into the same operation on the ids the filter
        selects here and now: what is logged and replicated is the effect at its origin, so
        the peer neither re-evaluates the filter on different data nor misses a stamp."""
        if op.get("op") not in SELECTOR_OPS or op.get("filter") is None:
            return op
        return resolve_filter(self.get(op["collection"]), op)

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
        shard = engine_call(qe.EdgeShard.create, str(path), edge_config(config))
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
        update_params(self.get(op["name"]), op.get("patch"))
        return True

    # --- reads (search.py) --------------------------------------------------------------

    def collection_info(self, name: str) -> dict:
        return info(self.get(name))

    def digest(self) -> dict:
        """Per collection: point count and content hash (see digest.py)."""
        return content_digest(self.collections)

    def retrieve(self, name: str, ids: list, payload: Any = True, vector: Any = False) -> list[dict]:
        return search.retrieve(self.get(name), ids, payload, vector)

    def count(self, name: str, body: dict) -> int:
        return search.count(self.get(name), body)

    def scroll(self, name: str, body: dict) -> dict:
        return search.scroll(self.get(name), body)

    def search(self, name: str, body: dict) -> list[dict]:
        return search.search(self.get(name), body)

    def query(self, name: str, body: dict) -> list[dict]:
        return search.query(self.get(name), body)
