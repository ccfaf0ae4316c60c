"""Compaction: snapshot the state (with a data dir), then drop the log's prefix that the
snapshot covers and that no peer needs as entries any more; in the background, one at a time.

    node.compact_after = 10_000   # past this many entries the log is compacted
    await node.compact()          # or by hand
"""

from __future__ import annotations

import asyncio
import logging
import time

from system.vectordb import snapshot

log = logging.getLogger(__name__)


class Compaction:
    """Compaction for a `Node` (mixed into it; it uses the node's engine, log, peers, clock floor,
    compaction settings and counters)."""

    def _maybe_compact(self, force: bool = False) -> None:
        if not force and not (self.compact_after and len(self.oplog.entries) > self.compact_after):
            return
        if self._compaction is not None and not self._compaction.done():
            self._compact_again = self._compact_again or force
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a test driving the node by hand): compact() is called directly
        self._compaction = loop.create_task(self._compact_while_asked(), name="vectordb-compaction")

    async def _compact_while_asked(self) -> None:
        try:
            await self.compact()
            while self._compact_again:
                self._compact_again = False
                await self.compact()
        except Exception:  # the log keeps growing until the next try
            log.exception("compaction failed")

    async def compact(self) -> None:
        """Snapshot the state (with a data dir), then drop the log's prefix that the snapshot
        covers and that no peer needs as entries any more."""
        async with self._log_lock:
            t0 = time.perf_counter()
            covered = len(self.oplog.entries)  # every entry up to here is in the snapshot
            if self.snapshot_path is not None:
                source = snapshot.parts(self.engine, self.oplog.watermarks, self._clock_floor)
                self.snapshot_bytes, self.snapshot_points = await snapshot.write_file(self.snapshot_path, source)
            await self.oplog.drop_prefix(self._droppable(covered))
            self._rescan_all()
            self.compactions += 1
            self.last_compaction_ms = (time.perf_counter() - t0) * 1000

    def _droppable(self, covered: int) -> int:
        """How many leading entries to drop: those every peer has applied; and, so that a peer
        that lags or was never reached cannot make the log grow without bound, anything beyond
        the newest compact_after / 2 entries (such a peer is sent a snapshot instead, which
        costs a transfer of the whole state, not just what it lacks)."""
        entries = self.oplog.entries
        acked = 0
        while acked < covered and all(p.has(entries[acked]) for p in self.peers):
            acked += 1
        if not self.compact_after:
            return acked
        return max(acked, min(covered, len(entries) - self.compact_after // 2))

    def _rescan_all(self) -> None:
        for p in self.peers:
            p.cursor = 0

    async def _cancel_compaction(self) -> None:
        if self._compaction is not None:
            # Safe at any await: the snapshot and the log are each replaced by one rename.
            self._compaction.cancel()
            try:
                await self._compaction
            except asyncio.CancelledError:
                pass
