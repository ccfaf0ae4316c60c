"""Receiving from peers: entries they ship, applied in order and idempotently (skipped when
already applied, stopped at a gap), and the parts of a snapshot a peer sends instead of the
entries it compacted away.

    node.receive("dc2:9f01", [{"origin": "dc2:9f01", "seq": 7, "ts": 1717000000.1, "op": {...}}])
    # -> {"node_id": "dc1", "origin": "dc1:ab12", "watermarks": {"dc2:9f01": 7, ...}}
"""

from __future__ import annotations

import logging
import math
import time

from system.vectordb import convert as cv
from system.vectordb import snapshot
from system.vectordb.errors import ApiError, BadInput
from system.vectordb.oplog import Entry

log = logging.getLogger(__name__)
# A time budget per apply request: a catching-up node keeps answering its own readers between
# batches instead of freezing its event loop for seconds.
APPLY_BUDGET_S = 0.05
MAX_SEQ = 2**63 - 1  # a sequence number is logged as JSON: a signed 64-bit integer


def _watermark(value) -> bool:
    """A sequence number a peer has applied up to: 0 (none) to MAX_SEQ, as the schema states."""
    seq = cv.integral(value)
    return seq is not None and 0 <= seq <= MAX_SEQ


def _entry(raw) -> tuple[str, int, float, dict]:
    """(origin, seq, ts, op) of a shipped entry, as the document's Entry states it."""
    if not isinstance(raw, dict):
        raise BadInput("entries must be objects")
    origin, seq, ts, op = raw.get("origin"), cv.integral(raw.get("seq")), raw.get("ts"), raw.get("op")
    if not (isinstance(origin, str) and seq is not None and 1 <= seq <= MAX_SEQ
            and isinstance(ts, (int, float)) and not isinstance(ts, bool) and math.isfinite(ts)
            and isinstance(op, dict)):
        raise BadInput("entry needs origin, seq (1 or more), ts and op")
    return origin, seq, float(ts), op


class Receiver:
    """The receiving side of a `Node` (mixed into it; it uses the node's engine, log, peers,
    clock floor and counters)."""

    def receive(self, sender: str, entries: list) -> dict:
        """Apply entries shipped by a peer, in order; skip those already applied; stop at a gap."""
        started = time.perf_counter()
        applied = 0
        # The sender is one of our peers (known by its origin once we have reached it).
        sender_peer = next((p for p in self.peers if p.peer_origin == sender and p.peer_marks is not None), None)
        # All checked before any is applied: a request is refused whole, not after a gap or the budget.
        checked = [_entry(raw) for raw in entries]
        for origin, seq, ts, op in checked:
            if applied and time.perf_counter() - started > self.apply_budget_s:
                break  # the sender resends the rest
            # Our own origin comes back only if our log lost its tail (a crash before the OS
            # wrote it) after a peer had applied it: then it restores what we lost.
            if sender_peer is not None and seq > sender_peer.peer_marks.get(origin, 0):
                sender_peer.peer_marks[origin] = seq  # a peer has every entry it sends: never ship it back
            have = self.oplog.watermarks.get(origin, 0)
            if seq <= have:
                continue
            if seq != have + 1:
                break  # a gap: the sender resends from our watermark
            self._clock_floor = max(self._clock_floor, float(ts))
            try:
                self._apply(origin, seq, float(ts), op)
            except ApiError as exc:
                # Logged and skipped, so one bad entry cannot stall replication for good.
                self.apply_errors += 1
                log.warning("replicated operation %s#%d did not apply: %s", origin, seq, exc.text()[:200])
            self.oplog.append(Entry.make(origin, seq, float(ts), op))
            applied += 1
            self.received += 1
            self.apply_delays_ms.append(max(0.0, (time.time() - float(ts)) * 1000))
        self.last_contact = time.monotonic()
        self._maybe_compact()
        return self.handshake()

    async def install(self, part: dict) -> dict:
        """One part of a snapshot a peer sends because we lack entries it compacted away."""
        if part.get("kind") != "end":
            try:
                snapshot.merge(self.engine, part)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise BadInput(f"malformed snapshot part: {exc}"[:300]) from None
            return {"ok": True}
        marks, clock = part.get("watermarks"), part.get("clock_floor")
        names = part.get("collections")
        if not (isinstance(marks, dict) and all(_watermark(v) for v in marks.values())
                and isinstance(clock, (int, float)) and not isinstance(clock, bool)
                and isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise BadInput("the end of a snapshot needs watermarks (sequence numbers, 0..2^63-1), clock_floor and "
                           "collections")
        async with self._log_lock:
            snapshot.drop_unlisted(self.engine, part)
            for origin, seq in part["watermarks"].items():
                if cv.integral(seq) > self.oplog.watermarks.get(origin, 0):
                    self.oplog.raise_floor(origin, cv.integral(seq))
            self._clock_floor = max(self._clock_floor, float(part["clock_floor"]))
            self._rescan_all()
        self.snapshots_installed += 1
        self.last_contact = time.monotonic()
        # The merged state is in no file yet: make it durable as our own snapshot.
        self._maybe_compact(force=self.snapshot_path is not None)
        return self.handshake()
