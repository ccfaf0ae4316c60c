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

import asyncio
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
    def make(origin: str, seq: int, ts: float, op: dict) -> Entry:
        line = jsonfast.dumps({"origin": origin, "seq": seq, "ts": ts, "op": op})
        return Entry(origin, seq, ts, op, line)


class OpLog:
    """The log's tail: for each origin o, its entries floor[o]+1 .. watermarks[o], in log order.

    What lies at or below the floor was compacted into a snapshot (snapshot.py); a peer that
    still lacks some of it is sent a snapshot instead of entries."""

    def __init__(self, path: Path | None, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self.entries: list[Entry] = []
        self.watermarks: dict[str, int] = {}
        self.floor: dict[str, int] = {}
        self._file = None

    def load(self, base: dict[str, int] | None = None) -> list[Entry]:
        """Read the file (a torn last line from a crash is dropped), open it for appends, and
        return the entries to replay: those above `base`, the watermarks of the snapshot loaded
        before. Entries at or below it stay in the tail to be shipped but are not applied again
        (a crash between the snapshot's rename and the log's rewrite leaves them there)."""
        base = dict(base or {})
        self.watermarks, self.floor = dict(base), dict(base)
        if self.path is None:
            return []
        if self.path.exists():
            self._keep_contiguous(self._read(), base)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        return [e for e in self.entries if e.seq > base.get(e.origin, 0)]

    def _read(self) -> list[Entry]:
        read, good = [], 0
        with self.path.open("rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    break
                try:
                    d = jsonfast.loads(raw)
                    read.append(Entry(d["origin"], int(d["seq"]), float(d["ts"]), d["op"], raw.rstrip(b"\n")))
                except (ValueError, KeyError, TypeError):
                    break
                good += len(raw)
        if good != self.path.stat().st_size:
            log.warning("operation log: dropping a torn tail of %d bytes", self.path.stat().st_size - good)
            with self.path.open("r+b") as f:
                f.truncate(good)
        return read

    def _keep_contiguous(self, read: list[Entry], base: dict[str, int]) -> None:
        """Keep, per origin, one run of consecutive sequence numbers that starts at or below the
        snapshot's watermark + 1. A jump within the snapshot's range is an installed snapshot
        (the run before it is covered by it, and dropped); any other jump is ignored."""
        last: dict[str, int] = {}
        kept: list[Entry] = []
        for e in read:
            prev, covered = last.get(e.origin), base.get(e.origin, 0)
            if prev is not None and e.seq == prev + 1:
                pass
            elif (prev is None or prev < e.seq) and e.seq <= covered + 1:
                if prev is not None:
                    kept = [x for x in kept if x.origin != e.origin]
            else:
                log.warning("operation log: out-of-order entry %s#%d ignored", e.origin, e.seq)
                continue
            kept.append(e)
            last[e.origin] = e.seq
        self.entries = kept
        firsts: dict[str, int] = {}
        for e in kept:
            firsts.setdefault(e.origin, e.seq)
        for origin, seq in last.items():
            self.watermarks[origin] = max(seq, base.get(origin, 0))
            self.floor[origin] = firsts[origin] - 1

    def append(self, entry: Entry) -> None:
        if self._file is not None:
            self._file.write(entry.line + b"\n")
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        self.entries.append(entry)
        self.watermarks[entry.origin] = entry.seq

    def append_new(self, origin: str, op: dict, ts: float | None = None) -> Entry:
        entry = Entry.make(origin, self.watermarks.get(origin, 0) + 1, time.time() if ts is None else ts, op)
        self.append(entry)
        return entry

    def raise_floor(self, origin: str, seq: int) -> None:
        """An installed snapshot covers `origin` up to `seq`, beyond what we had: our entries of
        it are covered, and the next one we accept is seq + 1."""
        self.entries = [e for e in self.entries if e.origin != origin]
        self.floor[origin] = self.watermarks[origin] = seq

    async def drop_prefix(self, count: int) -> None:
        """Forget the first `count` entries (a snapshot covers them); with a file, rewrite it with
        the rest. The bulk is written in a thread while appends go on to the old file; the few
        entries appended meanwhile are copied over before the atomic rename."""
        if count <= 0:
            return
        if self.path is not None:
            copied = len(self.entries)
            tmp = self.path.with_name(self.path.name + ".tmp")
            await asyncio.to_thread(_write_lines, tmp, [e.line for e in self.entries[count:copied]])
            # The few appended meanwhile: synced only as every append is (the fsync setting).
            with tmp.open("ab") as f:
                for e in self.entries[copied:]:
                    f.write(e.line + b"\n")
                f.flush()
                if self.fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, self.path)
            self._file.close()
            self._file = self.path.open("ab")
            await asyncio.to_thread(fsync_dir, self.path.parent)
        dropped = self.entries[:count]
        del self.entries[:count]
        for e in dropped:
            self.floor[e.origin] = max(self.floor.get(e.origin, 0), e.seq)
        # Freeing an upsert's op (hundreds of thousands of floats) takes milliseconds: a few
        # at a time, so that freeing 100 MB of entries does not stall the loop for 100 ms.
        while dropped:
            del dropped[-8:]
            await asyncio.sleep(0)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _write_lines(path: Path, lines: list[bytes]) -> None:
    with path.open("wb") as f:
        for line in lines:
            f.write(line + b"\n")
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
