"""The LB pair: HAProxy health checks and routing, keepalived VRRP moving the VIP.

HAProxy (one per LB node) checks every gateway, `inter` seconds after the previous check
*ended* (HAProxy reschedules a check when it completes), `fastinter` seconds while a server
is in transition (UP with failed checks, or DOWN with passed ones). A check of a dead or
cut-off server fails after the check's timeout (a kill looks like a blackhole, DESIGN
section 5): min(timeout connect, inter) with `timeout check` set (the tuned LB), `inter`
itself without (the naive LB). `fall` failures in a row mark the server DOWN, `rise`
successes mark it UP. A server dying at a uniformly random moment is detected after
U(0, inter) + timeout + (fall - 1) * (fastinter + timeout): tuned (inter 2 s, fastinter
0.5 s, timeout 1 s, fall 3) 4-6 s; naive (fastinter = inter = timeout = 2 s) 10-12 s, 11 s on
average (measured on the lab, DC2 down, from the fault's onset: 10.1-10.9 s; the model said
5.1 s while it scheduled checks from their start and took the connect timeout for the
check's). Routing is round robin over servers believed UP; a pick that turns out dead
costs a connect timeout and is redispatched (`retries 2`, `option redispatch 1`; the naive
LB's `option redispatch` retries the same server first: a difference the model leaves).

keepalived: the live LB with the highest priority holds the VIP. When the master dies the
backup takes over after the master-down interval, 3 * advert + skew (RFC 5798); a returning
higher-priority LB preempts at once (keepalived's default; the lab's keepalived.conf says
`nopreempt`, so there the VIP stays: a difference left for the fidelity work).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import simpy

from simulation.components import Station
from simulation.network import Network
from simulation.params import Timings


class HAProxy:
    def __init__(self, env: simpy.Environment, lb: Station, servers: list[Station], net: Network,
                 timings: Timings, connect_s: float, retries: int, rng: random.Random,
                 record: Callable[..., None]) -> None:
        self.env, self.lb, self.servers, self.net, self.t = env, lb, servers, net, timings
        self.connect_s, self.retries, self.record = connect_s, retries, record
        self.believed_up = list(servers)
        self.rr = 0
        for server in servers:
            # Checks start at a random phase, as HAProxy spreads them (`spread-checks`).
            env.process(self._check(server, rng.random() * timings.check_inter_s))

    def healthy(self, server: Station) -> bool:
        return server.up and self.net.reachable(self.lb.site, server.site)

    def _check(self, server: Station, phase: float):
        env, t = self.env, self.t
        yield env.timeout(phase)
        fails = oks = 0
        while True:
            if self.lb.up:
                if self.healthy(server):
                    fails, oks = 0, oks + 1
                    if server not in self.believed_up and oks >= t.rise:
                        self._mark(server, True)
                else:
                    yield env.timeout(t.check_timeout_s)  # the Layer4 timeout
                    oks, fails = 0, fails + 1
                    if server in self.believed_up and fails >= t.fall:
                        self._mark(server, False)
            up = server in self.believed_up
            in_transition = (up and fails > 0) or (not up and oks > 0)
            yield env.timeout(t.check_fastinter_s if in_transition else t.check_inter_s)

    def _mark(self, server: Station, up: bool) -> None:
        if up:
            self.believed_up = [s for s in self.servers if s is server or s in self.believed_up]
        else:
            self.believed_up = [s for s in self.believed_up if s is not server]
        self.record("haproxy", "server-up" if up else "server-down", {"lb": self.lb.name, "server": server.name},
                    self.env.now)

    def route(self) -> tuple[Station | None, float]:
        """The server a new request reaches and the time lost on dead picks before it; None if
        every try failed (HAProxy answers 503)."""
        lost = 0.0
        for _ in range(1 + self.retries):
            up = self.believed_up
            if not up:
                return None, lost
            self.rr += 1
            server = up[self.rr % len(up)]
            if server.up and self.net.reachable(self.lb.site, server.site):
                return server, lost
            lost += self.connect_s
        return None, lost


class Vrrp:
    def __init__(self, env: simpy.Environment, lbs: list[Station], priorities: tuple[int, ...],
                 advert_s: float, record: Callable[..., None]) -> None:
        self.env, self.record, self.advert_s = env, record, advert_s
        self.by_priority = sorted(zip(priorities, lbs), key=lambda pl: -pl[0])
        self.master: Station | None = self.by_priority[0][1] if lbs else None
        self.takeover_pending = False

    def failover_s(self, priority: int) -> float:
        return 3 * self.advert_s + (256 - priority) / 256 * self.advert_s

    def update(self) -> None:
        best = next(((p, lb) for p, lb in self.by_priority if lb.up), None)
        if self.master is not None and not self.master.up:
            self.record("vrrp", "master-lost", {"lb": self.master.name}, self.env.now)
            self.master = None
        if best is None:
            return
        if self.master is None:
            if not self.takeover_pending:
                self.takeover_pending = True
                self.env.process(self._takeover(best[0]))
        elif best[1] is not self.master and best[0] > self._priority(self.master):
            self.master = best[1]  # preemption: the higher priority advertises and wins at once
            self.record("vrrp", "master", {"lb": best[1].name}, self.env.now)

    def _priority(self, lb: Station) -> int:
        return next(p for p, x in self.by_priority if x is lb)

    def _takeover(self, priority: int):
        yield self.env.timeout(self.failover_s(priority))
        self.takeover_pending = False
        best = next((lb for _, lb in self.by_priority if lb.up), None)
        if self.master is None and best is not None:
            self.master = best
            self.record("vrrp", "master", {"lb": best.name}, self.env.now)
