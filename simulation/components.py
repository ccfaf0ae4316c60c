"""Stations: the components that do work on a request, as plain classes holding their state.

A Station is an exact FCFS queue with `servers` parallel servers, computed without SimPy
resources: a visit is computed when the request *arrives* (the caller yields until then),
and arrivals are handled in time order, so the start of service is simply
max(arrival, earliest time a server frees up) -- Lindley's recursion for c servers. One heap
operation replaces a Resource's request, grant and release events; this is what lets the
model run a million requests in well under a minute. It is the same queue a
`simpy.Resource` gives (tests/simulation/test_sim_station.py checks that draw for draw).

    >>> import random
    >>> from simulation.params import Dist
    >>> st = Station("rag1", "rag", "dc1", servers=1, draw=Dist("const", 1.0).sampler(random.Random(0)))
    >>> st.visit(0.0), st.visit(0.5), st.visit(5.0)   # second waits 0.5 s for the first
    (1.0, 2.0, 6.0)
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heapreplace


class Station:
    __slots__ = ("name", "kind", "site", "node", "servers", "draw", "timeout_s", "free", "up", "epoch",
                 "runs_from", "visits", "waits", "wait_sum", "busy", "abandoned", "cpu")

    def __init__(self, name: str, kind: str, site: str, servers: int, draw: Callable[[], float],
                 timeout_s: float = float("inf"), node: str = "") -> None:
        self.name, self.kind, self.site, self.node = name, kind, site, node
        self.servers = servers
        self.draw = draw
        self.timeout_s = timeout_s  # a caller gives up after waiting this long in the queue
        self.free = [0.0] * servers  # a heap: when each server is next free
        self.up = True
        self.epoch = 0  # bumped on every crash: a request that saw another epoch was lost
        # When its container runs (again): a dead one is a blackhole (inf); one being started
        # runs before its process answers, and refuses connections meanwhile (simulation/lb.py).
        self.runs_from = 0.0
        self.visits = self.waits = self.abandoned = 0
        self.wait_sum = self.busy = 0.0
        # Its CPU demand (simulation/cpu.py) when the model places CPU: then a visit is
        # simulation.cpu.visit, event by event, since its end waits on cores other stations share.
        self.cpu = None

    def visit(self, now: float) -> float:
        """Arrive at `now`; return when service ends, or -1.0 if the wait would exceed the
        caller's timeout (the caller abandons before service: it holds no server)."""
        free = self.free
        first = free[0]
        self.visits += 1
        if first > now:
            wait = first - now
            if wait > self.timeout_s:
                self.abandoned += 1
                return -1.0
            self.waits += 1
            self.wait_sum += wait
            now = first
        service = self.draw()
        self.busy += service
        end = now + service
        heapreplace(free, end)
        return end

    def crash(self) -> None:
        self.up = False
        self.epoch += 1
        self.runs_from = float("inf")

    def restart(self, now: float) -> None:
        # A restarted process starts with empty queues; work in flight was lost with the crash.
        self.up = True
        self.runs_from = min(self.runs_from, now)
        self.free = [now] * self.servers
        if self.cpu is not None:
            self.cpu.restart()

    def utilisation(self, duration_s: float) -> float:
        return self.busy / (self.servers * duration_s) if duration_s > 0 else 0.0

    def __repr__(self) -> str:
        return f"Station({self.name}, {self.servers} servers, {'up' if self.up else 'down'})"


class KeyCache:
    """The gateway's cached LLM key: fresh for `ttl_s`, usable stale up to `max_stale_s` after
    the last successful fetch. The refresh runs in the background (simulation/run.py)."""

    __slots__ = ("fetched_at", "ttl_s", "max_stale_s", "stale_served")

    def __init__(self, ttl_s: float, max_stale_s: float) -> None:
        self.fetched_at = 0.0  # the harness seeds the key before traffic starts
        self.ttl_s, self.max_stale_s = ttl_s, max_stale_s
        self.stale_served = 0

    def usable(self, now: float) -> bool:
        age = now - self.fetched_at
        if age <= self.ttl_s:
            return True
        if age <= self.max_stale_s:
            self.stale_served += 1
            return True
        return False


class PolicySync:
    """policy_sync in one site: the etcd revision its OPA has loaded."""

    __slots__ = ("site", "loaded", "highest", "syncing", "pending", "working", "down", "lost", "epoch")

    def __init__(self, site: str) -> None:
        self.site = site
        self.loaded = 0
        self.highest = 0  # the highest revision it ever loaded: a later load of one is no news
        self.syncing = False
        self.pending: list[int] = []  # revisions delivered by the watch, not yet put to OPA
        self.working = False
        self.down = False  # its policy_sync or its OPA is down
        self.lost = False  # its OPA lost what it had (restarted empty): a full sync is due
        self.epoch = 0  # bumped on every loss: work begun before it is void
