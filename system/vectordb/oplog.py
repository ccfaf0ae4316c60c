"""The node's ordered operation log: every write it applied, its own and its peer's.

Each entry carries its origin (a node incarnation) and that origin's sequence number, so
applying an entry twice is detectable (idempotent apply) and a peer can be told exactly
which entries it still lacks. With a data dir the log is a JSON-lines file, replayed at
start; without one it lives in memory only.

    log = OpLog(None)
    e = log.append_new("dc1:ab12", {"op": "delete_collection", "name": "x"})
    e.seq, log.watermarks    # -> 1, {"dc1:ab12": 1}
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from system.vectordb import jsonfast

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    origin: str
    seq: int
    ts: float
    op: dict
    line: bytes  # the entry as one JSON object, shipped as is

    @staticmethod
    def make(origin: str, seq: int, ts: float, op: dict) -> "Entry":
        line = jsonfast.dumps({"origin": origin, "seq": seq, "ts": ts, "op": op})
        return Entry(origin, seq, ts, op, line)


class OpLog:
    def __init__(self, path: Path | None, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self.entries: list[Entry] = []
        self.watermarks: dict[str, int] = {}
        self._file = None

    def load(self) -> list[Entry]:
        """Read the file (a torn last line from a crash is dropped) and open it for appends."""
        if self.path is None:
            return []
        if self.path.exists():
            good = 0
            with self.path.open("rb") as f:
                for raw in f:
                    if not raw.endswith(b"\n"):
                        break
                    try:
                        d = jsonfast.loads(raw)
                        entry = Entry(d["origin"], int(d["seq"]), float(d["ts"]), d["op"], raw.rstrip(b"\n"))
                    except (ValueError, KeyError, TypeError):
                        break
                    if entry.seq != self.watermarks.get(entry.origin, 0) + 1:
                        log.warning("operation log: out-of-order entry %s#%d ignored", entry.origin, entry.seq)
                        good += len(raw)
                        continue
                    self._remember(entry)
                    good += len(raw)
            if good != self.path.stat().st_size:
                log.warning("operation log: dropping a torn tail of %d bytes", self.path.stat().st_size - good)
                with self.path.open("r+b") as f:
                    f.truncate(good)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        return list(self.entries)

    def _remember(self, entry: Entry) -> None:
        self.entries.append(entry)
        self.watermarks[entry.origin] = entry.seq

    def append(self, entry: Entry) -> None:
        if self._file is not None:
            self._file.write(entry.line + b"\n")
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        self._remember(entry)

    def append_new(self, origin: str, op: dict, ts: float | None = None) -> Entry:
        entry = Entry.make(origin, self.watermarks.get(origin, 0) + 1, time.time() if ts is None else ts, op)
        self.append(entry)
        return entry

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
