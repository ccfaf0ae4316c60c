"""Full-mesh replication: every write accepted by a node is shipped to each of its peers.

Each peer has its own shipper (cursor, watermarks, backoff, lag), so an unreachable peer never
holds back the others. Write consistency 1 acknowledges once the write is applied and logged
locally and ships it in the background, in log order, retrying with backoff; 2 also waits until
at least one peer has applied it (two copies, as Qdrant's write_consistency_factor counts
replicas). Reads never consult a peer. A node that was cut off catches up from every peer when
the links return: each shipper asks its peer which sequence number of each origin it has applied
and sends the rest; the peer skips what it already has (idempotent apply).

    node = Node(engine, oplog, node_id="dc1", origin="dc1:ab12",
                peers=["http://vectordb2:8000", "http://vectordb3:8000"])
    entry = await node.write(op, consistency=2)   # raises Unavailable if no peer acks in time
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from pathlib import Path

import httpx

from system.vectordb import jsonfast, snapshot
from system.vectordb.engine import Engine
from system.vectordb.errors import ApiError, BadInput, Unavailable
from system.vectordb.oplog import Entry, OpLog

log = logging.getLogger(__name__)
# Small batches, and a time budget per apply request: a catching-up node keeps answering its
# own readers between batches instead of freezing its event loop for seconds.
MAX_BATCH_ENTRIES = 256
MAX_BATCH_BYTES = 1 << 20
APPLY_BUDGET_S = 0.05


class Node:
    def __init__(self, engine: Engine, oplog: OpLog, *, node_id: str, origin: str, peers: list[str] | None = None,
                 api_key: str | None = None, consistency_timeout_s: float = 5.0, heartbeat_s: float = 0.5,
                 retry_min_s: float = 0.05, retry_max_s: float = 2.0, request_timeout_s: float = 5.0,
                 compact_after: int = 0, snapshot_path: Path | None = None) -> None:
        self.engine = engine
        self.oplog = oplog
        self.compact_after = compact_after
        self.snapshot_path = snapshot_path
        self.node_id = node_id
        self.origin = origin
        self.api_key = api_key
        self.consistency_timeout_s = consistency_timeout_s
        self.heartbeat_s = heartbeat_s
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.request_timeout_s = request_timeout_s
        self.apply_budget_s = APPLY_BUDGET_S
        urls = []
        for u in peers or []:
            u = u.strip().rstrip("/")
            if u and u not in urls:
                urls.append(u)
        self.peers: list[Peer] = [Peer(self, u) for u in urls]
        self.last_contact: float | None = None  # the last entries received from any peer
        self.received = 0
        self.apply_errors = 0
        self.apply_delays_ms: deque[float] = deque(maxlen=2000)
        # The newest stamp time applied here: local writes are stamped after it, so a node
        # whose clock lags its peers' still wins with its own later writes (a hybrid clock).
        self._clock_floor = 0.0
        self._ack_waiters: list[tuple[int, asyncio.Future]] = []
        self._client: httpx.AsyncClient | None = None
        # Compaction and an installed snapshot's end both cut the log: one at a time.
        self._log_lock = asyncio.Lock()
        self._compaction: asyncio.Task | None = None
        self._compact_again = False
        self.compactions = 0
        self.last_compaction_ms: float | None = None
        self.snapshot_bytes = 0
        self.snapshot_points = 0
        self.snapshots_installed = 0

    # --- writes -------------------------------------------------------------------------

    def restore(self) -> list[Entry]:
        """Rebuild the engine at start: the snapshot if there is one, then the log above it."""
        base: dict[str, int] = {}
        if self.snapshot_path is not None and self.snapshot_path.exists():
            for part in snapshot.read_file(self.snapshot_path):
                if part["kind"] == "end":
                    base = {o: int(s) for o, s in part["watermarks"].items()}
                    self._clock_floor = max(self._clock_floor, float(part["clock_floor"]))
                else:
                    snapshot.merge(self.engine, part)
                    self.snapshot_points += len(part.get("points", ()))
            self.snapshot_bytes = self.snapshot_path.stat().st_size
        entries = self.oplog.load(base)
        self.replay(entries)
        return entries

    def replay(self, entries: list[Entry]) -> None:
        """Apply logged entries at start (those above the snapshot)."""
        failed = 0
        for e in entries:
            self._clock_floor = max(self._clock_floor, e.ts)
            try:
                self._apply(e.origin, e.seq, e.ts, e.op)
            except ApiError:
                failed += 1
        if failed:
            log.warning("replay: %d of %d logged operations did not apply", failed, len(entries))

    def write_local(self, op: dict) -> tuple[Entry, object]:
        """Apply and log an operation accepted from a client (no await: atomic on the loop).

        Filters are resolved to ids first, so the peers apply exactly the effect it had here."""
        op = self.engine.resolve_filters(op)
        ts = max(time.time(), self._clock_floor + 1e-6)
        result = self._apply(self.origin, self.oplog.watermarks.get(self.origin, 0) + 1, ts, op, replicated=False)
        self._clock_floor = ts
        entry = self.oplog.append_new(self.origin, op, ts)
        self._wake_all()
        self._maybe_compact()
        return entry, result

    def _apply(self, origin: str, seq: int, ts: float, op: dict, replicated: bool = True):
        result = self.engine.apply(op, replicated=replicated, stamp=(ts, origin))
        if op.get("op") == "create_collection" and result is True:
            self.engine.collections[op["name"]].created_by = [origin, seq]
        return result

    async def write(self, op: dict, consistency: int = 1) -> tuple[Entry, object]:
        entry, result = self.write_local(op)
        if consistency >= 2 and self.peers:
            await self.wait_acked(entry.seq)
        return entry, result

    async def wait_acked(self, seq: int) -> None:
        """Consistency 2: two copies, this node's and at least one peer's (any peer)."""
        if self.acked_seq() >= seq:
            return
        fut = asyncio.get_running_loop().create_future()
        self._ack_waiters.append((seq, fut))
        self._wake_all()
        try:
            await asyncio.wait_for(fut, self.consistency_timeout_s)
        except asyncio.TimeoutError:
            raise Unavailable(f"write consistency factor 2 not reached: no peer applied operation "
                              f"{seq} within {self.consistency_timeout_s} s (applied locally; it will be "
                              f"shipped when the peers are back)") from None
        finally:
            self._ack_waiters = [(s, f) for s, f in self._ack_waiters if f is not fut]

    def acked_seq(self) -> int:
        """The highest own sequence number that some peer has applied."""
        return max((p.marks_of(self.origin) for p in self.peers), default=0)

    def _acked(self) -> None:
        mine = self.acked_seq()
        for seq, fut in self._ack_waiters:
            if seq <= mine and not fut.done():
                fut.set_result(None)

    def _wake_all(self) -> None:
        for p in self.peers:
            p.wake.set()

    # --- receiving ----------------------------------------------------------------------

    def receive(self, sender: str, entries: list) -> dict:
        """Apply entries shipped by a peer, in order; skip those already applied; stop at a gap."""
        started = time.perf_counter()
        applied = 0
        # The sender is one of our peers (known by its origin once we have reached it).
        sender_peer = next((p for p in self.peers if p.peer_origin == sender and p.peer_marks is not None), None)
        for raw in entries:
            if applied and time.perf_counter() - started > self.apply_budget_s:
                break  # the sender resends the rest
            if not isinstance(raw, dict):
                raise BadInput("entries must be objects")
            origin, seq, ts, op = raw.get("origin"), raw.get("seq"), raw.get("ts"), raw.get("op")
            if not (isinstance(origin, str) and isinstance(seq, int) and isinstance(ts, (int, float))
                    and math.isfinite(ts) and isinstance(op, dict)):
                raise BadInput("entry needs origin, seq, ts and op")
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
        if not (isinstance(marks, dict) and all(isinstance(v, int) for v in marks.values())
                and isinstance(clock, (int, float)) and isinstance(part.get("collections"), list)):
            raise BadInput("the end of a snapshot needs watermarks, clock_floor and collections")
        async with self._log_lock:
            snapshot.drop_unlisted(self.engine, part)
            for origin, seq in part["watermarks"].items():
                if int(seq) > self.oplog.watermarks.get(origin, 0):
                    self.oplog.raise_floor(origin, int(seq))
            self._clock_floor = max(self._clock_floor, float(part["clock_floor"]))
            self._rescan_all()
        self.snapshots_installed += 1
        self.last_contact = time.monotonic()
        # The merged state is in no file yet: make it durable as our own snapshot.
        self._maybe_compact(force=self.snapshot_path is not None)
        return self.handshake()

    # --- compaction ---------------------------------------------------------------------

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
        except Exception:  # noqa: BLE001 - the log keeps growing until the next try
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

    def handshake(self) -> dict:
        return {"node_id": self.node_id, "origin": self.origin, "watermarks": dict(self.oplog.watermarks)}

    # --- shipping -----------------------------------------------------------------------

    def start(self) -> None:
        self._maybe_compact()  # a log that outgrew the bound while compaction was off
        if self.peers and self._client is None:
            headers = {"api-key": self.api_key} if self.api_key else {}
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.request_timeout_s, connect=1.0),
                                             headers=headers)
            for p in self.peers:
                p.start(self._client)

    async def stop(self) -> None:
        for p in self.peers:
            await p.stop()
        if self._compaction is not None:
            # Safe at any await: the snapshot and the log are each replaced by one rename.
            self._compaction.cancel()
            try:
                await self._compaction
            except asyncio.CancelledError:
                pass
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- status -------------------------------------------------------------------------

    def status(self) -> dict:
        own_seq = self.oplog.watermarks.get(self.origin, 0)
        delays = sorted(self.apply_delays_ms)
        peers = [p.status() for p in self.peers]

        def pct(q: float):
            return round(delays[min(len(delays) - 1, int(q * len(delays)))], 3) if delays else None

        return {
            "node_id": self.node_id, "origin": self.origin,
            # Summaries over the peers: all reachable, the worst lag, what every peer has applied.
            "peer_reachable": all(p["reachable"] for p in peers) if peers else None,
            "peers_reachable": sum(bool(p["reachable"]) for p in peers),
            "last_contact_age_s": round(time.monotonic() - self.last_contact, 3) if self.last_contact else None,
            "log_length": len(self.oplog.entries), "own_seq": own_seq,
            "peer_acked_seq": min(p["acked_seq"] for p in peers) if peers else None,
            "lag_ops": max((p["lag_ops"] for p in peers), default=0),
            "lag_s": max((p["lag_s"] for p in peers), default=0.0),
            "watermarks": dict(self.oplog.watermarks),
            "shipped": sum(p["shipped"] for p in peers), "ship_failures": sum(p["ship_failures"] for p in peers),
            "compactions": self.compactions, "last_compaction_ms": _ms(self.last_compaction_ms),
            "log_floor": dict(self.oplog.floor), "snapshot_bytes": self.snapshot_bytes,
            "snapshot_points": self.snapshot_points,
            "snapshots_shipped": sum(p["snapshots_shipped"] for p in peers),
            "snapshots_installed": self.snapshots_installed,
            "received": self.received, "apply_errors": self.apply_errors,
            "apply_delay_ms": {"last": round(self.apply_delays_ms[-1], 3) if self.apply_delays_ms else None,
                               "p50": pct(0.5), "p99": pct(0.99), "max": round(delays[-1], 3) if delays else None,
                               "samples": len(delays)},
            "peers": peers,
        }


class Peer:
    """The shipping state of one peer: its watermarks, a cursor into our log, its own task."""

    def __init__(self, node: Node, url: str) -> None:
        self.node = node
        self.url = url
        # What the peer has told us it has applied, per origin; None until the first handshake.
        self.peer_origin: str | None = None
        self.peer_marks: dict[str, int] | None = None
        self.cursor = 0  # every log entry before it is known to be applied by the peer
        self._need_handshake = True
        self.reachable = False
        self.last_contact: float | None = None
        self.last_error: str | None = None
        self.shipped = 0
        self.ship_batches = 0
        self.ship_failures = 0
        self.snapshots_shipped = 0
        self.last_ship_ms: float | None = None
        self.wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self, client: httpx.AsyncClient) -> None:
        if self._task is None:
            self._client = client
            self._task = asyncio.create_task(self._ship_forever(), name=f"vectordb-shipper {self.url}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
            self._task = None

    def marks_of(self, origin: str) -> int:
        return self.peer_marks.get(origin, 0) if self.peer_marks is not None else 0

    def _peer_has(self, origin: str, seq: int) -> bool:
        return self.peer_marks is not None and self.peer_marks.get(origin, 0) >= seq

    def has(self, e: Entry) -> bool:
        return self._peer_has(e.origin, e.seq)

    def _needs_snapshot(self) -> bool:
        """The peer lacks entries that our log no longer holds (compacted away)."""
        return any(self.marks_of(o) < floor for o, floor in self.node.oplog.floor.items())

    def _learn(self, state: dict) -> None:
        """Take the peer's watermarks; if it lost state (new incarnation, rollback), rescan the log."""
        origin, marks = state.get("origin"), state.get("watermarks")
        if not isinstance(origin, str) or not isinstance(marks, dict):
            raise ValueError("peer answered without origin/watermarks")
        if self.peer_marks is not None and (origin != self.peer_origin or
                                            any(marks.get(o, 0) < s for o, s in self.peer_marks.items())):
            log.info("peer %s state changed (now %s); rescanning the log", self.url, origin)
            self.cursor = 0
        if self.peer_origin is None or origin != self.peer_origin:
            self.cursor = 0
        self.peer_origin, self.peer_marks = origin, {k: int(v) for k, v in marks.items()}
        self.reachable = True
        self._need_handshake = False
        self.last_contact = time.monotonic()
        self.last_error = None
        self.node._acked()

    def _needs_shipping(self, e: Entry) -> bool:
        # Every entry the peer lacks: ours, and those we received from others (so an entry also
        # reaches a node through a third one, and an old incarnation's writes are refilled).
        # The peer's own entries are covered by its own watermark, unless it lost them.
        return not self._peer_has(e.origin, e.seq)

    def _advance(self) -> None:
        entries = self.node.oplog.entries
        while self.cursor < len(entries) and not self._needs_shipping(entries[self.cursor]):
            self.cursor += 1

    def _batch(self) -> list[Entry]:
        self._advance()
        batch, size = [], 0
        for e in self.node.oplog.entries[self.cursor:]:
            if not self._needs_shipping(e):
                continue
            if batch and (len(batch) >= MAX_BATCH_ENTRIES or size + len(e.line) > MAX_BATCH_BYTES):
                break
            batch.append(e)
            size += len(e.line)
        return batch

    async def _ship_forever(self) -> None:
        backoff = self.node.retry_min_s
        while True:
            try:
                if self._need_handshake:
                    await self._handshake()
                if self._needs_snapshot():
                    await self._ship_snapshot()
                    continue
                batch = self._batch()
                if not batch:
                    self.wake.clear()
                    try:
                        await asyncio.wait_for(self.wake.wait(), self.node.heartbeat_s)
                    except asyncio.TimeoutError:
                        await self._handshake()  # heartbeat: reachability, and a peer that lost state
                    continue
                await self._ship(batch)
                backoff = self.node.retry_min_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the link: retry with backoff
                self.reachable = False
                self.ship_failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), backoff)
                except asyncio.TimeoutError:
                    pass
                backoff = min(backoff * 2, self.node.retry_max_s)
                self._need_handshake = True  # the peer may have restarted meanwhile

    async def _handshake(self) -> None:
        r = await self._client.get(f"{self.url}/replication/handshake")
        r.raise_for_status()
        self._learn(r.json())

    async def _ship(self, batch: list[Entry]) -> None:
        body = (b'{"sender":"' + self.node.origin.encode() + b'","entries":[' + b",".join(e.line for e in batch) + b"]}")
        t0 = time.perf_counter()
        r = await self._client.post(f"{self.url}/replication/apply", content=body,
                                    headers={"content-type": "application/json"})
        r.raise_for_status()
        self.last_ship_ms = (time.perf_counter() - t0) * 1000
        self._learn(r.json())
        self.shipped += sum(1 for e in batch if self._peer_has(e.origin, e.seq))
        self.ship_batches += 1

    async def _ship_snapshot(self) -> None:
        """The whole state, part by part (each part is produced on the loop right before it is
        sent, so writes go on in between); then entries above its watermarks, as usual."""
        node = self.node
        log.info("peer %s lacks compacted entries; shipping a snapshot", self.url)
        answer = None
        for part in snapshot.parts(node.engine, node.oplog.watermarks, node._clock_floor):
            body = jsonfast.dumps({"sender": node.origin, "part": part})
            r = await self._client.post(f"{self.url}/replication/snapshot", content=body,
                                        headers={"content-type": "application/json"})
            r.raise_for_status()
            answer = r.json()
        self._learn(answer)
        self.snapshots_shipped += 1

    def status(self) -> dict:
        pending = [e for e in self.node.oplog.entries[self.cursor:] if self._needs_shipping(e)]
        return {
            "url": self.url, "origin": self.peer_origin, "reachable": self.reachable,
            "last_contact_age_s": round(time.monotonic() - self.last_contact, 3) if self.last_contact else None,
            "last_error": self.last_error, "acked_seq": self.marks_of(self.node.origin),
            "lag_ops": len(pending), "lag_s": round(time.time() - pending[0].ts, 3) if pending else 0.0,
            "shipped": self.shipped, "ship_batches": self.ship_batches, "ship_failures": self.ship_failures,
            "snapshots_shipped": self.snapshots_shipped,
            "last_ship_ms": round(self.last_ship_ms, 3) if self.last_ship_ms is not None else None,
        }


def _ms(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
