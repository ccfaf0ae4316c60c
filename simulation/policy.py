"""Policy propagation (policy update steps 8-9): etcd watch -> policy_sync -> OPA.

A committed revision reaches a site's OPA through its policy_sync's watch when that site
reaches an etcd voter that receives the leader's log; the delay is the replication hop, the
watch hop, the wait for policy_sync and the OPA PUT. policy_sync puts one update at a time,
and everything the watch delivered meanwhile goes in the next round, one PUT per policy
(system/policy_sync coalesces so); each PUT costs more as more policies are loaded, since OPA
recompiles all of them. A site that misses revisions (cut off, policy_sync or OPA down)
catches up by a full resync after reconnecting (`reconnect_backoff_s`) and every `resync_s`.
Each load is an event in the history: process "policy_sync", f "policy-loaded", value
{"site", "revision", "delay_s"} -- delay from commit to loaded, so "instant" propagation
gets a number, and a partition an unbounded one.
"""

from __future__ import annotations

from simulation.components import PolicySync, Station


class Propagation:
    def __init__(self, m) -> None:
        self.m = m
        self.revision = 0
        self.commit_time: dict[int, float] = {}
        self.syncs = {site: PolicySync(site) for site in m.app_sites}
        p = m.topo.params.policy_sync
        self.resync_s, self.backoff_s = p.resync_s, p.reconnect_backoff_s
        for ps in self.syncs.values():
            m.env.process(self._periodic(ps))

    def source(self, site: str) -> Station | None:
        """The up-to-date etcd voter this site's policy_sync can watch, if its path to OPA works."""
        m = self.m
        view = m.views[site]
        if not (view.policy_sync.up and view.opa.up):
            return None
        for member in sorted(m.etcd.up_to_date(), key=lambda s: s.site != site):
            if m.net.reachable(site, member.site):
                return member
        return None

    def commit(self, at: float, leader: Station) -> int:
        self.revision += 1
        self.commit_time[self.revision] = at
        for ps in self.syncs.values():
            if self.source(ps.site) is not None:
                self.m.env.process(self._deliver(ps, self.revision, at, leader))
        return self.revision

    def _deliver(self, ps: PolicySync, revision: int, at: float, leader: Station):
        m = self.m
        member = self.source(ps.site)
        if member is None:  # a fault at this very instant: the resync will catch up
            return
        delay = max(0.0, at - m.env.now) + m.net.hop(leader.site, member.site) + m.net.hop(member.site, ps.site)
        yield m.env.timeout(delay)
        if self.source(ps.site) is None:
            return
        ps.pending.append(revision)
        if not ps.working:
            ps.working = True
            m.env.process(self._work(ps))

    def _work(self, ps: PolicySync):
        m, params = self.m, self.m.params
        scale = params.put_scale()
        draw = m.views[ps.site].policy_sync.draw
        while ps.pending:
            batch, ps.pending = ps.pending, []
            puts = len({r % max(1, params.updated_policies) for r in batch})
            yield m.env.timeout(sum(draw() for _ in range(puts)) * scale)
            if self.source(ps.site) is not None:
                self._load(ps, max(batch))
        ps.working = False

    def resync(self, ps: PolicySync, wait_s: float) -> None:
        if ps.loaded < self.revision and not ps.syncing and self.source(ps.site) is not None:
            ps.syncing = True
            self.m.env.process(self._resync(ps, wait_s))

    def _resync(self, ps: PolicySync, wait_s: float):
        m = self.m
        yield m.env.timeout(wait_s + m.views[ps.site].policy_sync.draw())
        ps.syncing = False
        if self.source(ps.site) is not None:
            self._load(ps, self.revision)

    def _periodic(self, ps: PolicySync):
        while True:
            yield self.m.env.timeout(self.resync_s)
            self.resync(ps, 0.0)

    def changed(self) -> None:
        for ps in self.syncs.values():
            self.resync(ps, self.backoff_s)

    def _load(self, ps: PolicySync, revision: int) -> None:
        now = self.m.env.now
        for r in range(ps.loaded + 1, revision + 1):
            if self.commit_time[r] > now:  # not committed yet (a resync raced the commit)
                revision = r - 1
                break
            self.m.record("policy_sync", "policy-loaded",
                          {"site": ps.site, "revision": r, "delay_s": now - self.commit_time[r]}, now)
        ps.loaded = max(ps.loaded, revision)
