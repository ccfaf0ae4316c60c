"""What GET /replication reports: one object per peer (reachability, lag, ship counters) and
the node's summaries over them (all reachable, the worst lag, what every peer has applied),
its log, compaction and apply-delay figures.

    node_status(node)["peers"][0]   # -> {"url": ..., "reachable": True, "lag_ops": 0, "lag_s": 0.0, ...}

It reads a node and its peers through `Replicating` and `Shipping`, the figures they keep, so it
imports neither node.py nor shipper.py (both call it).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from system.vectordb.oplog import Entry, OpLog


class _Origin(Protocol):
    origin: str


class Shipping(Protocol):
    """What a peer's status reads (shipper.py's Peer)."""

    node: _Origin
    url: str
    peer_origin: str | None
    reachable: bool
    last_contact: float | None
    last_error: str | None
    shipped: int
    ship_batches: int
    ship_failures: int
    snapshots_shipped: int
    last_ship_ms: float | None

    def marks_of(self, origin: str) -> int: ...
    def pending(self) -> list[Entry]: ...


class Replicating(Protocol):
    """What a node's status reads (node.py's Node)."""

    node_id: str
    origin: str
    oplog: OpLog
    peers: Sequence[Shipping]
    last_contact: float | None
    received: int
    apply_errors: int
    apply_delays_ms: deque[float]
    compactions: int
    last_compaction_ms: float | None
    snapshot_bytes: int
    snapshot_points: int
    snapshots_installed: int


def peer_status(peer: Shipping) -> dict:
    pending = peer.pending()
    return {
        "url": peer.url, "origin": peer.peer_origin, "reachable": peer.reachable,
        "last_contact_age_s": _age(peer.last_contact),
        "last_error": peer.last_error, "acked_seq": peer.marks_of(peer.node.origin),
        "lag_ops": len(pending), "lag_s": round(time.time() - pending[0].ts, 3) if pending else 0.0,
        "shipped": peer.shipped, "ship_batches": peer.ship_batches, "ship_failures": peer.ship_failures,
        "snapshots_shipped": peer.snapshots_shipped, "last_ship_ms": _ms(peer.last_ship_ms),
    }


def node_status(node: Replicating) -> dict:
    own_seq = node.oplog.watermarks.get(node.origin, 0)
    delays = sorted(node.apply_delays_ms)
    peers = [peer_status(p) for p in node.peers]

    def pct(q: float):
        return round(delays[min(len(delays) - 1, int(q * len(delays)))], 3) if delays else None

    return {
        "node_id": node.node_id, "origin": node.origin,
        # Summaries over the peers: all reachable, the worst lag, what every peer has applied.
        "peer_reachable": all(p["reachable"] for p in peers) if peers else None,
        "peers_reachable": sum(bool(p["reachable"]) for p in peers),
        "last_contact_age_s": _age(node.last_contact),
        "log_length": len(node.oplog.entries), "own_seq": own_seq,
        "peer_acked_seq": min(p["acked_seq"] for p in peers) if peers else None,
        "lag_ops": max((p["lag_ops"] for p in peers), default=0),
        "lag_s": max((p["lag_s"] for p in peers), default=0.0),
        "watermarks": dict(node.oplog.watermarks),
        "shipped": sum(p["shipped"] for p in peers), "ship_failures": sum(p["ship_failures"] for p in peers),
        "compactions": node.compactions, "last_compaction_ms": _ms(node.last_compaction_ms),
        "log_floor": dict(node.oplog.floor), "snapshot_bytes": node.snapshot_bytes,
        "snapshot_points": node.snapshot_points,
        "snapshots_shipped": sum(p["snapshots_shipped"] for p in peers),
        "snapshots_installed": node.snapshots_installed,
        "received": node.received, "apply_errors": node.apply_errors,
        "apply_delay_ms": {"last": round(node.apply_delays_ms[-1], 3) if node.apply_delays_ms else None,
                           "p50": pct(0.5), "p99": pct(0.99), "max": round(delays[-1], 3) if delays else None,
                           "samples": len(delays)},
        "peers": peers,
    }


def _age(monotonic: float | None) -> float | None:
    """Seconds since a time.monotonic() reading; None for never."""
    return round(time.monotonic() - monotonic, 3) if monotonic else None


def _ms(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
