"""The operation history: what every client did and what came of it, as plain data (after Jepsen).

Each operation appears twice: an `invoke` when it starts and a completion when it ends.
A completion is `ok` (it happened), `fail` (it certainly did not happen) or `info` (unknown:
a timeout during a failover is `info`, never a guess). Completions carry the latency, so
most checkers need only them.

Events share the history (Jepsen records its nemesis the same way): an `info` op with no
latency, whose process names the source -- "nemesis" (f = fault kind, value = {"target",
"phase": "start"|"stop"}), "haproxy" (server-down / server-up), "vrrp", "raft-<kind>",
"policy_sync" (policy-loaded), "gateway" (key-refreshed). Checkers of client operations
skip them (`is_event`). The harness (measurement) and simulation/ (prediction) write
the same format, so the same checkers score both.

    >>> h = [Op(1, "invoke", "rag_query", time=0.0), Op(1, "ok", "rag_query", time=0.8, latency=0.8, site="dc1")]
    >>> [op.type for op in completions(h)]
    ['ok']
    >>> Op.from_dict(h[1].to_dict()) == h[1]
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TYPES = ("invoke", "ok", "fail", "info")
COMPLETIONS = frozenset({"ok", "fail", "info"})


@dataclass(frozen=True, slots=True)
class Op:
    """One history entry.

    process: the client (a number or a name) that ran it; one operation at a time per process.
    type:    invoke | ok | fail | info.
    f:       the operation, e.g. "rag_query", "policy_update".
    value:   what was asked or answered (JSON-able).
    time:    seconds since the run's start.
    latency: seconds from invoke to this completion (completions only).
    site:    the DC that served it, when known.
    error:   why it failed or is unknown, e.g. "timeout", "vault-unavailable".
    steps:   component kind -> seconds spent on it, when the client or the model knows them
             (what `halab calibrate` fits service times from). For gateway, rag and cms the
             component's own time; for the others the call as its caller saw it, network
             included (see simulation/calibrate.py).
    """

    process: int | str
    type: str
    f: str
    value: Any = None
    time: float = 0.0
    latency: float | None = None
    site: str | None = None
    error: str | None = None
    steps: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"op type must be one of {', '.join(TYPES)}, not {self.type!r}")

    @property
    def is_completion(self) -> bool:
        return self.type in COMPLETIONS

    @property
    def is_event(self) -> bool:
        """An event from the nemesis or the system, not a client operation's completion."""
        return self.type == "info" and self.latency is None

    @property
    def start(self) -> float:
        """When the operation was invoked (for a completion: time - latency)."""
        return self.time - (self.latency or 0.0)

    def to_dict(self) -> dict[str, Any]:
        # None fields are left out: a history line stays short and readable.
        d: dict[str, Any] = {"process": self.process, "type": self.type, "f": self.f, "time": self.time}
        for key in ("value", "latency", "site", "error", "steps"):
            v = getattr(self, key)
            if v is not None:
                d[key] = v
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Op:
        return cls(
            process=d["process"],
            type=d["type"],
            f=d["f"],
            value=d.get("value"),
            time=float(d.get("time", 0.0)),
            latency=None if d.get("latency") is None else float(d["latency"]),
            site=d.get("site"),
            error=d.get("error"),
            steps=d.get("steps"),
        )


def completions(history: Iterable[Op]) -> list[Op]:
    """The ok/fail/info completions of client operations (events left out), in history order."""
    return [op for op in history if op.type in COMPLETIONS and op.latency is not None]


def event(process: str, f: str, value: Any, time: float) -> Op:
    """An event op: `event("nemesis", "site-down", {"target": "dc2", "phase": "start"}, 120.0)`."""
    return Op(process, "info", f, value=value, time=time)


def write_jsonl(history: Iterable[Op], path: str | Path) -> int:
    """Write one JSON object per line; returns the number of ops written."""
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for op in history:
            out.write(json.dumps(op.to_dict(), separators=(",", ":")))
            out.write("\n")
            n += 1
    return n


def iter_jsonl(path: str | Path) -> Iterator[Op]:
    """Read a history lazily; blank lines are skipped, a bad line names its number."""
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield Op.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a history op ({exc})") from exc


def read_jsonl(path: str | Path) -> list[Op]:
    return list(iter_jsonl(path))
