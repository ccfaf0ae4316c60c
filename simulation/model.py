"""The SimPy model of one topology spec: a Station per component, the WAN, the LB pair, the
Raft groups, the gateways' key caches and policy propagation -- all read from the spec.

    >>> from harness.spec import preset
    >>> m = Model(preset("seed"), seed=1)
    >>> sorted(m.views), m.views["dc1"].vectordbs[0].name, m.etcd.majority
    (['dc1', 'dc2'], 'vectordb1', 2)
"""

from __future__ import annotations

import random
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

import simpy

from harness.history import Op, event
from harness.spec import Topology
from simulation.components import KeyCache, Station
from simulation.cpu import Cpu
from simulation.lb import HAProxy, Vrrp
from simulation.network import Network
from simulation.params import Dist, ModelParams, timings
from simulation.policy import Propagation
from simulation.quorum import RaftGroup


@dataclass
class SiteView:
    """What an app site's requests use: its own stations, and peers in preference order."""

    gateway: Station
    opa: Station
    rag: Station
    cms: Station
    policy_sync: Station
    vectordbs: list[Station]
    vaults: list[Station]
    # Decisions that only a fault can change, cached until `Model.changes` moves on.
    changes: int = -1
    mongo_ok: bool = True
    llm_ok: bool = True
    vectordb: Station | None = None
    vectordb_lost: float = 0.0  # connect timeouts spent on dead replicas before `vectordb`


class Model:
    def __init__(self, topo: Topology, params: ModelParams | None = None, seed: int = 0,
                 record_steps: bool = False) -> None:
        self.topo, self.params = topo, params or ModelParams()
        self.seed = seed
        self.env = simpy.Environment()
        self.record_steps = record_steps
        sp = topo.params
        self.t = timings(topo)
        # Independent streams per purpose: changing one component's parameters leaves the
        # arrivals and the other components' draws alone (common random numbers).
        self.stream = lambda name: random.Random(f"{seed}/{name}")
        self.net = Network(topo, self.stream("net"), self.params.intra_hop_s)

        self.connect_s, self.upstream_s = sp.timeouts.connect_s, sp.timeouts.upstream_s
        self.llm_s, self.request_s = sp.timeouts.llm_s, sp.timeouts.request_s
        self.lb_s = self.params.lb_s
        self.key_ttl_s = sp.key_cache.ttl_s

        self.stations: dict[str, Station] = {}
        for site in topo.sites:
            for node in site.nodes:
                for c in node.components:
                    self.stations[c.name] = self._station(c.name, c.kind, site.name, node.name)
        self.app_sites = topo.app_sites()
        self.mongo = self._one("mongo")
        self.mongo_write = self.params.station("mongo_write").service.sampler(self.stream("mongo_write"))
        self.llm = self._one("llm")
        # The machines' cores (simulation/cpu.py), only once some demand is given: without any
        # the stations keep their computed queues and every prediction stays as it was.
        self.cpu = Cpu(self) if any(s > 0 for d in self.params.cpu_s.values() for s in d.values()) else None
        self.views = {s: self._view(s) for s in self.app_sites}
        # Mean one-way trip from an app site back to the LB site, for failures' end times.
        lb_site = topo.site_of(topo.components_of("lb")[0].name) if topo.components_of("lb") else self.app_sites[0]
        self.back = {s: self.net.mean_rtt(s, lb_site) / 2 + self.lb_s for s in self.app_sites}

        self.log: list[tuple] = []
        self.events: list[Op] = []
        self.changes = 0
        self.change_times: list[float] = []
        self.dynamic = 0  # faults about to break something at a time not in change_times
        self.down_count: dict[str, int] = {}
        # Per app site (one gateway each): requests past HAProxy not yet done, and when the
        # last done one ends: what a drain waits for (simulation/restart.py).
        self.sessions = dict.fromkeys(topo.app_sites(), 0)
        self.last_end = dict.fromkeys(topo.app_sites(), 0.0)

        def group(kind: str, election_s: float, step_down_s: float) -> RaftGroup:
            members = [self.stations[c.name] for c in topo.components_of(kind)]
            return RaftGroup(self.env, kind, members, self.net, election_s, self.stream(f"raft/{kind}"), self.record,
                             step_down_s)

        # Only the kinds the table calls Raft elect leaders; the vector store replicates
        # leaderless (harness/kinds.py), so its writes need no majority.
        self.etcd = group("etcd", self.t.etcd_election_s, self.t.etcd_step_down_s)
        self.vault = group("vault", self.t.bao_election_s, self.t.bao_step_down_s)
        self.groups = (self.etcd, self.vault)
        self.vector_nodes = [self.stations[c.name] for c in topo.components_of("vectordb")]

        lbs = [self.stations[c.name] for c in topo.components_of("lb")]
        gateways = [self.stations[c.name] for c in topo.components_of("gateway")]
        hrng, prng = self.stream("haproxy"), self.stream("pool")
        pool = 0 if sp.lb.server_close else self.params.lb_pool  # http-server-close: nothing idle to reuse
        # One check phase per gateway, shared by the LBs (simulation/lb.py: they check in step).
        phases = {gw.name: hrng.random() * self.t.check_inter_s for gw in gateways}
        # The epoch (Station.epoch: one per start) in which each gateway last loaded its routes
        # from etcd; loaded before traffic starts.
        self.routes_loaded = {gw.name: gw.epoch for gw in gateways}
        self.haproxy = {
            lb.name: HAProxy(self.env, lb, gateways, self.net, self.t, self.connect_s, sp.timeouts.retries, phases,
                             self.record, pool, self.params.lb_pool_reuse, prng, ready=self.gateway_ready)
            for lb in lbs
        }
        # `timeout server` of a request HAProxy sent to a gateway that died or went dark under
        # it (simulation/flows.py's _cut); reads retried after it, on another gateway.
        self.flow_timeout_s = sp.lb.flow_timeout_s if sp.lb.flow_timeout_s is not None else self.request_s
        self.retry_reads = sp.lb.retry_reads
        self.retries = sp.timeouts.retries
        self.vrrp = Vrrp(self.env, lbs, sp.vrrp.priorities, sp.vrrp.advert_s, self.record)
        self.keys = {gw.name: KeyCache(sp.key_cache.ttl_s, sp.key_cache.max_stale_s) for gw in gateways}
        if self.key_ttl_s > 0:
            for gw in gateways:
                self.env.process(self._refresh_key(gw))
        self.policy = Propagation(self)

    # --- building ------------------------------------------------------------------------

    def _station(self, name: str, kind: str, site: str, node: str) -> Station:
        if kind == "lb":  # HAProxy's work is a fixed delay (params.LB_S); the station is its up/down state
            return Station(name, kind, site, 1, Dist("const", self.lb_s).sampler(self.stream(name)), node=node)
        sp = self.params.station(kind)
        servers = sp.servers * self.topo.params.replicas.of(kind)
        timeout = self.llm_s if kind == "llm" else self.upstream_s
        return Station(name, kind, site, servers, sp.service.sampler(self.stream(name)), timeout, node)

    def _one(self, kind: str) -> Station:
        found = self.topo.components_of(kind)
        if not found:
            raise ValueError(f"topology {self.topo.name!r} has no {kind}: the flows need one")
        return self.stations[found[0].name]

    def _view(self, site: str) -> SiteView:
        def local(kind: str) -> Station:
            return next(st for st in self.stations.values() if st.kind == kind and st.site == site)

        def by_distance(kind: str) -> list[Station]:
            # The local replica first, then the others by mean round trip (clients list the
            # local node first, then the other DC's, as system/rag does).
            def rtt(st: Station) -> float:
                return self.net.mean_rtt(site, st.site) if (site, st.site) in self.net.links else 0.0

            peers = [st for st in self.stations.values() if st.kind == kind]
            return sorted(peers, key=lambda st: (st.site != site, rtt(st)))

        return SiteView(local("gateway"), local("opa"), local("rag"), local("cms"), local("policy_sync"),
                        by_distance("vectordb"), by_distance("vault"))

    def refresh(self, view: SiteView) -> SiteView:
        """Recompute a site's cached routing decisions after a fault change."""
        site, net = view.gateway.site, self.net
        view.mongo_ok = self.mongo.up and net.reachable(site, self.mongo.site)
        view.llm_ok = self.llm.up and net.reachable(site, self.llm.site)
        view.vectordb, view.vectordb_lost = None, 0.0
        for st in view.vectordbs:
            if st.up and net.reachable(site, st.site):
                view.vectordb = st
                break
            view.vectordb_lost += self.connect_s  # a dead peer is a blackhole: the connect times out
        view.changes = self.changes
        return view

    def other_gateway(self, site: str) -> Station | None:
        """A live gateway in another app site that `site` reaches: the hairpin's fallback."""
        for other in self.app_sites:
            if other != site:
                gw = self.views[other].gateway
                if gw.up and self.net.reachable(site, other):
                    return gw
        return None

    def gateway_ready(self, gw: Station) -> bool:
        """The gateway's /readyz: up, and its routes loaded from etcd since it started
        (system/gateway/app.py). The load is a linearizable range, so it needs a member that
        reaches an etcd leader; like APISIX the gateway then keeps its routes while etcd is away.
        Measured on dc2-down (naive-LB recording): gateway2 answered 5.6 and 4.8 s after the
        heal began, etcd's leader came 0.2 s after each, and HAProxy's UP marks follow only
        from readiness at etcd's leader. The range waits for a leader it lacks (etcd retries
        its ReadIndex every 0.5 s): taken as loaded at once once there is one."""
        if self.routes_loaded.get(gw.name) == gw.epoch:
            return True
        if gw.up and (not self.etcd.members or self.etcd.writable_from(gw.site) is not None):
            self.routes_loaded[gw.name] = gw.epoch
            return True
        return False

    # --- background: the gateway's key refresh ---------------------------------------------

    def _refresh_key(self, gw: Station):
        env, cache, view = self.env, self.keys[gw.name], self.views[gw.site]
        while True:
            wait = cache.fetched_at + cache.ttl_s - env.now
            if wait > 0:
                yield env.timeout(wait)
            vault = next((v for v in view.vaults if v.up and self.net.reachable(gw.site, v.site)), None)
            if gw.up and vault is not None:
                yield env.timeout(self.net.mean_rtt(gw.site, vault.site) + vault.draw())
                cache.fetched_at = env.now
                self.record("gateway", "key-refreshed", {"gateway": gw.name, "vault": vault.name}, env.now)
            else:
                yield env.timeout(self.params.key_retry_s)

    # --- what flows and faults call --------------------------------------------------------

    def next_change(self, now: float) -> float:
        """The first scheduled fault change at or after `now` (inf if none)."""
        if self.dynamic:
            return now
        i = bisect_left(self.change_times, now)
        return self.change_times[i] if i < len(self.change_times) else float("inf")

    def changed(self) -> None:
        self.changes += 1
        for g in self.groups:
            g.update()
        self.vrrp.update()
        for h in self.haproxy.values():
            h.notice()
        for name in self.routes_loaded:  # a gateway (re)started with etcd at hand loads at once
            self.gateway_ready(self.stations[name])
        self.policy.changed()

    def done(self, rid: int, f: str, t0: float, t1: float, type_: str, site: str | None, error: str | None,
             steps: dict | None = None, value: Any = None) -> None:
        self.log.append((rid, f, t0, t1, type_, site, error, steps, value))
        if site is not None:  # every request that reached a gateway ends here with its site
            self.release(site, t1)

    def release(self, site: str, t1: float) -> None:
        """A request leaves `site`'s gateway at `t1`: done, or given up by HAProxy and sent again."""
        self.sessions[site] -= 1
        if t1 > self.last_end[site]:
            self.last_end[site] = t1

    def idle(self, gw: Station) -> bool:
        """No session left on this gateway (HAProxy's `scur` 0)."""
        return self.sessions[gw.site] == 0 and self.env.now >= self.last_end[gw.site]

    def record(self, process: str, f: str, value: Any, time: float) -> None:
        self.events.append(event(process, f, value, time))
