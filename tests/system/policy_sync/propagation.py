"""The pieces of the propagation benchmark: policies of a given size, watchers that time
when each put reaches a bare etcd client (the floor) and when it changes an OPA decision.

Every time is `time.perf_counter()` on this host, so arrivals in both DCs compare with the
put that caused them. A put is identified by the etcd revision it made.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx

from scenarios.checkers.latency import summarise
from system.policy_sync.source import Batch, EtcdSource

HOT = 10  # the policies the updates rotate over; the rest of the loaded ones are ballast


def rego(package: str, value: int, size: int) -> str:
    """A policy of about `size` bytes shaped like the lab's authz policy: several rules of a
    few conditions each (OPA's compile cost follows the rule count, not the bytes)."""
    head = f"package {package}\n\ndefault allow := false\n\nvalue := {value}\n"
    rules, i = [], 0
    while len(head) + sum(map(len, rules)) < size:
        rules.append(f'\nallow if {{\n\tinput.consumer.labels.role == "r{i}"\n\tinput.request.method == "GET"\n'
                     f'\tstartswith(input.request.path, "/p{i}/")\n}}\n')
        i += 1
    return head + "".join(rules)


def reading_rego(package: str, doc: str, size: int) -> str:
    """`rego`'s shape, but its value read from the document `data.policy_data[doc]`: a change of
    the document changes the decision without a compile (the data path)."""
    return rego(package, 0, size).replace("value := 0\n", f'value := data.policy_data["{doc}"].value\n', 1)


def hot_id(j: int) -> str:
    return f"hot-p{j}"


def hot_package(j: int) -> str:
    return f"halab.hot.p{j}"


@dataclass
class Put:
    policy: int
    value: int
    revision: int
    started: float
    acked: float


@dataclass
class Arrivals:
    """When each revision arrived somewhere (a DC's watch, a DC's OPA)."""

    at: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self, revisions, t: float) -> None:
        with self.lock:
            for r in revisions:
                self.at.setdefault(r, t)


class WatchFloor:
    """A bare etcd watch on one member: the earliest a watcher in that DC can know of a put.
    It is policy_sync's own watch code, without policy_sync."""

    def __init__(self, endpoint: str, prefix: str = "/policies/", tls=None) -> None:
        self.arrivals = Arrivals()
        self._source = EtcdSource(endpoint, prefix=prefix, tls=tls)

    def __enter__(self) -> WatchFloor:
        def seen(item) -> None:
            t = time.perf_counter()
            if isinstance(item, Batch):
                self.arrivals.mark([ev.mod_revision for ev in item.events], t)

        revision, _ = self._source.snapshot()
        self._source.watch(revision + 1, seen)
        return self

    def __exit__(self, *exc) -> None:
        self._source.close()


class DecisionPoller:
    """Polls one OPA's hot values back to back; a put has arrived when its policy's value is at
    least the put's (a newer put to the same policy carries the older one's effect along)."""

    def __init__(self, opa: httpx.Client) -> None:
        """`opa`: a client with OPA's base URL (and its certificate's name); closed on exit."""
        self.arrivals = Arrivals()
        self.polls = 0
        self.poll_s: list[float] = []
        self.errors: list[str] = []
        self._http = opa
        self._pending: list[Put] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def expect(self, put: Put) -> None:
        with self._lock:
            self._pending.append(put)

    def outstanding(self) -> int:
        with self._lock:
            return len(self._pending)

    def values(self) -> dict[int, int]:
        result = self._http.get("/v1/data/halab/hot").json().get("result") or {}
        return {int(k[1:]): v.get("value", -1) for k, v in result.items() if k.startswith("p") and isinstance(v, dict)}

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                seen = self.values()
            except Exception as exc:  # noqa: BLE001 - one bad answer must not end the timing
                self.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            t = time.perf_counter()
            self.polls += 1
            self.poll_s.append(t - t0)
            with self._lock:
                done = [p for p in self._pending if seen.get(p.policy, -1) >= p.value]
                self._pending = [p for p in self._pending if seen.get(p.policy, -1) < p.value]
            # The change became visible somewhere inside the poll: count its end, and report
            # the poll's own duration beside the figures as their resolution.
            self.arrivals.mark([p.revision for p in done], t)

    def __enter__(self) -> DecisionPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self._http.close()


def spread(values: list[float]) -> dict[str, float | None]:
    """n, p50, p99 and max in ms, as the checkers compute them (None where there is no value)."""
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    la = summarise(values)
    return {"n": la.count, "p50_ms": round(la.p50 * 1000, 2), "p99_ms": round(la.p99 * 1000, 2),
            "max_ms": round(la.max * 1000, 2)}
