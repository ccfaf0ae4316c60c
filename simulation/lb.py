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
check's).

Coming back (a heal, a restart), a check is `GET /readyz`, so it fails until the gateway is
ready, not merely alive: its process answers (params.startup_s) *and* it has loaded its
routes from etcd, which takes an etcd leader (simulation/model.py, `gateway_ready`). It
fails at its timeout while the container is dead, and at once from when the container runs
again (params.container_start_s: connections refused, then /readyz's 503). So the server is
UP again `rise - 1` x fastinter after the first check that finds it ready, which comes up to
one `inter` after it is ready. Measured on dc2-down, the two recordings (tests/simulation/
fixtures), each UP mark follows so from its run's DOWN mark: the checks after DOWN came
every timeout + inter (3 s tuned, 4 s naive) until the first that failed at once, then every
inter; those sent 0.9-1.2 s after the heal began still timed out. Tuned (seed, 3 runs):
gateway2 answered 2.8-4.7 s after the heal began, etcd's leader was back at 2.7-3.1 s, and
UP came 4.97, 6.69, 4.64 s after it. Naive (seed+naive-lb, 2 runs, an older lab on a slower
host): etcd's leader back only 5.8 and 4.9 s after the heal, the gateway's readiness waiting
for it, and UP 9.20 and 8.02 s after (`rise` 2 x `inter` 2 s). The old model, timing out
every check until the gateway was up, had the tuned LB's UP one second late.

Routing is round robin over servers believed UP; a pick that turns out dead costs a connect
timeout and is redispatched (`retries 2`, `option redispatch 1`; the naive LB's `option
redispatch` retries the same server first: a difference the model leaves).

The LBs check in step: without `spread-checks` HAProxy starts a server's checks a fixed share
of `inter` after its own start, with no random part, so two LBs started together check each
server at one phase, random with respect to the fault. Measured on the tuned lab (dc2-down, 3
runs): both LBs marked gateway2 DOWN, and UP again, within one 0.25 s poll of the observer
every time. Independent phases made the first mark by either LB the earlier of two draws,
~0.35 s early on average.

A request whose gateway dies under it (or whose path to it goes dark) is sent again by
HAProxy, not by this class: see simulation/flows.py (`_cut`): HAProxy's server timeout (the
flow timeout, tuned) ends it; a read (`retry-on response-timeout`) is then redispatched, and
`route(avoid=...)` picks another server first, as HAProxy's round robin avoids the server a
redispatched request leaves.

Pooled connections: HAProxy keeps idle keep-alive connections to each gateway. A gateway that
dies as a blackhole closes none of them, so a request sent on one before the server is marked
DOWN gets no connect timeout: it waits the server timeout (the flow timeout, 6 s, tuned; 60 s
naive). Modelled simply: each LB holds `pool` such connections per server at its death, and a
request picked for the dead server takes one with probability `reuse` while any are left;
otherwise it connects anew and fails fast (params.LB_POOL, LB_POOL_REUSE). `option
http-server-close` (spec.LbTuning.server_close) keeps no pool: no request can take one.

Drain (a rolling restart's): a drained server gets no new requests; its checks go on.

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

PASS, REFUSED, TIMEOUT = "pass", "refused", "timeout"  # what a health check finds (HAProxy.probe)


class HAProxy:
    def __init__(self, env: simpy.Environment, lb: Station, servers: list[Station], net: Network,
                 timings: Timings, connect_s: float, retries: int, phases: dict[str, float],
                 record: Callable[..., None], pool: int = 0, reuse: float = 0.0,
                 pool_rng: random.Random | None = None, ready: Callable[[Station], bool] | None = None) -> None:
        self.env, self.lb, self.servers, self.net, self.t = env, lb, servers, net, timings
        self.ready = ready or (lambda _server: True)  # /readyz beyond being up (the module's docstring)
        self.connect_s, self.retries, self.record = connect_s, retries, record
        self.believed_up = list(servers)
        self.routable = list(servers)  # believed up and not drained: what new requests go to
        self.drained: set[str] = set()
        self.rr = 0
        self.pool, self.reuse = pool, reuse
        self.pool_rng = pool_rng or random.Random(0)
        self.stale = {s.name: 0 for s in servers}  # pooled connections to a server that died since
        self.was_healthy = {s.name: True for s in servers}
        for server in servers:
            # Each server's checks start at its phase (seconds into the first `inter`), the
            # same on every LB (the module's docstring).
            env.process(self._check(server, phases[server.name]))

    def healthy(self, server: Station) -> bool:
        return server.up and self.net.reachable(self.lb.site, server.site)

    def probe(self, server: Station) -> str:
        """What one check of `server` finds now: PASS; REFUSED, failing at once (its container
        runs: the connection is refused, or /readyz answers 503); or TIMEOUT (dead or cut off:
        a blackhole)."""
        if not self.net.reachable(self.lb.site, server.site) or self.env.now < server.runs_from:
            return TIMEOUT
        return PASS if server.up and self.ready(server) else REFUSED

    def _check(self, server: Station, phase: float):
        env, t = self.env, self.t
        yield env.timeout(phase)
        fails = oks = 0
        while True:
            if self.lb.up:
                found = self.probe(server)
                if found == PASS:
                    fails, oks = 0, oks + 1
                    if server not in self.believed_up and oks >= t.rise:
                        self._mark(server, True)
                else:
                    if found == TIMEOUT:
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
        self._reroute()
        self.record("haproxy", "server-up" if up else "server-down", {"lb": self.lb.name, "server": server.name},
                    self.env.now)

    def _reroute(self) -> None:
        self.routable = [s for s in self.believed_up if s.name not in self.drained]

    def drain(self, server: Station, on: bool) -> None:
        (self.drained.add if on else self.drained.discard)(server.name)
        self._reroute()

    def in_rotation(self, server: Station) -> bool:
        """What the Runtime API's `show stat` calls UP: believed up and not drained."""
        return server in self.routable

    def notice(self) -> None:
        """After a fault change: a server that just died keeps its idle pooled connections
        (HAProxy learns nothing of a blackholed death); one that lives again has fresh ones."""
        for server in self.servers:
            healthy = self.healthy(server)
            if healthy != self.was_healthy[server.name]:
                self.was_healthy[server.name] = healthy
                self.stale[server.name] = 0 if healthy else self.pool

    def route(self, avoid: Station | None = None, retries: int | None = None) -> tuple[Station | None, float, bool]:
        """The server a new request reaches, the time lost on dead picks before it, and whether
        it went out on a pooled connection to a dead server (then only a timeout ends it);
        None if every try failed (HAProxy answers 503). `avoid`: the server a redispatched
        request left, skipped while another is routable; `retries`: the retries it has left."""
        lost = 0.0
        for _ in range(1 + (self.retries if retries is None else retries)):
            up = self.routable
            if not up:
                return None, lost, False
            self.rr += 1
            server = up[self.rr % len(up)]
            if server is avoid and len(up) > 1:
                self.rr += 1
                server = up[self.rr % len(up)]
            avoid = server
            if server.up and self.net.reachable(self.lb.site, server.site):
                return server, lost, False
            if self.stale[server.name] and self.pool_rng.random() < self.reuse:
                self.stale[server.name] -= 1
                return server, lost, True
            lost += self.connect_s
        return None, lost, False


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
