"""A vectordb node: the engine and the log, and full-mesh replication to every peer.

Every write accepted by a node is shipped to each of its peers. Each peer has its own shipper
(cursor, watermarks, backoff, lag: `shipper.py`), so an unreachable peer never holds back the
others. Write consistency 1 acknowledges once the write is applied and logged locally and ships
it in the background, in log order, retrying with backoff; 2 also waits until at least one peer
has applied it (two copies, as Qdrant's write_consistency_factor counts replicas). Reads never
consult a peer. A node that was cut off catches up from every peer when the links return: each
shipper asks its peer which sequence number of each origin it has applied and sends the rest;
the peer skips what it already has (idempotent apply: `receiver.py`). The log is cut behind a
snapshot (`compaction.py`); `GET /replication` is `status.py`.

    node = Node(engine, oplog, node_id="dc1", origin="dc1:ab12",
                peers=["http://vectordb2:8000", "http://vectordb3:8000"])
    entry = await node.write(op, consistency=2)   # raises Unavailable if no peer acks in time
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from pathlib import Path

import httpx

from system.common.tls import client_context
from system.vectordb import snapshot
from system.vectordb.compaction import Compaction
from system.vectordb.engine import Engine
from system.vectordb.errors import ApiError, Unavailable
from system.vectordb.oplog import Entry, OpLog
from system.vectordb.receiver import APPLY_BUDGET_S, Receiver
from system.vectordb.shipper import Peer
from system.vectordb.status import node_status

log = logging.getLogger(__name__)


class Node(Receiver, Compaction):
    """One node: its state here; receiving from peers in receiver.py, compaction in compaction.py."""

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
        self.peers: list[Peer] = [Peer(self, u, on_ack=self._acked) for u in urls]
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
        except TimeoutError:
            raise Unavailable(f"write consistency factor 2 not reached: no peer applied operation "
                              f"{seq} within {self.consistency_timeout_s} s (applied locally; it will be "
                              f"shipped when the peers are back)") from None
        finally:
            self._ack_waiters = [(s, f) for s, f in self._ack_waiters if f is not fut]

    def acked_seq(self) -> int:
        """The highest own sequence number that some peer has applied."""
        return max((p.marks_of(self.origin) for p in self.peers), default=0)

    @property
    def clock_floor(self) -> float:
        """The newest stamp time applied here (a snapshot carries it)."""
        return self._clock_floor

    def _acked(self) -> None:
        """A peer reported its watermarks (its shipper's `on_ack`): settle the writes now acked."""
        mine = self.acked_seq()
        for seq, fut in self._ack_waiters:
            if seq <= mine and not fut.done():
                fut.set_result(None)

    def _wake_all(self) -> None:
        for p in self.peers:
            p.wake.set()

    def handshake(self) -> dict:
        return {"node_id": self.node_id, "origin": self.origin, "watermarks": dict(self.oplog.watermarks)}

    # --- lifecycle: the shippers -------------------------------------------------------

    def start(self) -> None:
        self._maybe_compact()  # a log that outgrew the bound while compaction was off
        if self.peers and self._client is None:
            headers = {"api-key": self.api_key} if self.api_key else {}
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.request_timeout_s, connect=1.0),
                                             headers=headers, verify=client_context())
            for p in self.peers:
                p.start(self._client)

    async def stop(self) -> None:
        for p in self.peers:
            await p.stop()
        await self._cancel_compaction()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- status -------------------------------------------------------------------------

    def status(self) -> dict:
        """What GET /replication answers (see status.py)."""
        return node_status(self)
