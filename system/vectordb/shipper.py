"""Shipping to one peer: its watermarks, a cursor into our log, batches of the entries it
lacks (or a snapshot when it lacks compacted ones), a handshake as heartbeat, its own task
with backoff.

    peer = Peer(node, "http://vectordb2:8000", on_ack=node_acked)
    peer.start(client)     # ships until stop(); node writes wake it through peer.wake

The shipper knows its node only as `Local` (what it reads: the log, the engine, timings) and
tells it of new acknowledgements through `on_ack`; node.py builds the peers, never the reverse.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import httpx

from system.vectordb import jsonfast, snapshot
from system.vectordb.oplog import Entry
from system.vectordb.status import peer_status

if TYPE_CHECKING:
    from system.vectordb.engine import Engine
    from system.vectordb.oplog import OpLog

log = logging.getLogger(__name__)
# Small batches: a catching-up peer keeps answering its own readers between them.
MAX_BATCH_ENTRIES = 256
MAX_BATCH_BYTES = 1 << 20


class Local(Protocol):
    """What a shipper reads of its own node (node.py's Node)."""

    origin: str
    oplog: OpLog
    engine: Engine
    heartbeat_s: float
    retry_min_s: float
    retry_max_s: float

    @property
    def clock_floor(self) -> float: ...


class Peer:
    """The shipping state of one peer: its watermarks, a cursor into our log, its own task.

    `on_ack` is called each time the peer reports its watermarks (the node settles the writes
    waiting for consistency 2)."""

    def __init__(self, node: Local, url: str, *, on_ack: Callable[[], None]) -> None:
        self.node = node
        self.url = url
        self.on_ack = on_ack
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
        self.on_ack()

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
                    except TimeoutError:
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
                except TimeoutError:
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
        for part in snapshot.parts(node.engine, node.oplog.watermarks, node.clock_floor):
            body = jsonfast.dumps({"sender": node.origin, "part": part})
            r = await self._client.post(f"{self.url}/replication/snapshot", content=body,
                                        headers={"content-type": "application/json"})
            r.raise_for_status()
            answer = r.json()
        self._learn(answer)
        self.snapshots_shipped += 1

    def pending(self) -> list[Entry]:
        """The entries of our log that the peer lacks (its lag)."""
        return [e for e in self.node.oplog.entries[self.cursor:] if self._needs_shipping(e)]

    def status(self) -> dict:
        return peer_status(self)
