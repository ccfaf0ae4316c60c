"""Policy propagation (policy update steps 8-9): etcd watch -> policy_sync -> OPA.

A committed revision reaches a site's OPA through its policy_sync's watch when that site
reaches an etcd voter that receives the leader's log; the delay is the replication hop, the
watch hop, the wait for OPA and one bundle activation. policy_sync offers every policy as one
bundle that OPA long-polls (system/policy_sync/bundle.py): OPA activates one bundle at a time,
and everything the watch delivered meanwhile is in the next one, so a batch costs one
activation however many policies it changed; an activation costs more as more policies are
loaded, since OPA parses and compiles all of them (`put_curve`). A site that misses revisions
(cut off) catches up by a full resync after reconnecting (`reconnect_backoff_s`) and every
`resync_s`. A site whose policy_sync or OPA is killed loses what its OPA had (OPA keeps
policies in memory; policy_sync's revision starts at 0): once both run again, OPA downloads
the whole bundle at once (one activation), without the backoff when etcd is at hand, and
nothing from the watch is loaded before it. A commit of a policy document (`data=True`) costs
a Data API write (`data_put_s`), whatever is loaded; a batch pays its documents' writes, then
one activation if it holds any Rego.
Each first load of a revision is an event in the history: process "policy_sync", f
"policy-loaded", value {"site", "revision", "delay_s"} -- delay from commit to loaded, so
"instant" propagation gets a number, and a partition an unbounded one. Each change of the
revision a site's OPA has, and each full sync after a loss, is a "revision" event {"site",
"revision"}, as the lab's observer records policy_sync's /status (chaos/observer.py):
checkers.after_heal times the convergence after a heal from them.
"""

from __future__ import annotations

from simulation.components import PolicySync, Station


class Propagation:
    def __init__(self, m) -> None:
        self.m = m
        self.revision = 0
        self.commit_time: dict[int, float] = {}
        self.documents: set[int] = set()  # revisions that wrote a policy document, not Rego
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

    def commit(self, at: float, leader: Station, data: bool = False) -> int:
        self.revision += 1
        self.commit_time[self.revision] = at
        if data:
            self.documents.add(self.revision)
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
        if self.source(ps.site) is None or ps.lost:  # lost: the start's full sync will have it
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
            epoch = ps.epoch
            documents = sum(r in self.documents for r in batch)
            activation = draw() * scale if documents < len(batch) else 0.0  # one, whatever the batch holds
            yield m.env.timeout(documents * params.data_put_s + activation)
            if ps.epoch == epoch and self.source(ps.site) is not None:
                self._load(ps, max(batch))
        ps.working = False

    def resync(self, ps: PolicySync, wait_s: float) -> None:
        if (ps.lost or ps.loaded < self.revision) and not ps.syncing and self.source(ps.site) is not None:
            ps.syncing = True
            self.m.env.process(self._resync(ps, wait_s, ps.epoch))

    def _resync(self, ps: PolicySync, wait_s: float, epoch: int):
        m = self.m
        draw = m.views[ps.site].policy_sync.draw
        if ps.lost:  # into an empty OPA: the snapshot's round trip, then one activation of every policy
            member = self.source(ps.site)
            snapshot = m.net.mean_rtt(ps.site, member.site) if member is not None else 0.0
            cost = snapshot + draw() * m.params.put_scale()
        else:
            cost = draw()
        yield m.env.timeout(wait_s + cost)
        if ps.epoch != epoch:  # lost meanwhile: that loss ended this sync
            return
        ps.syncing = False
        if self.source(ps.site) is not None:
            self._load(ps, self.revision)

    def _periodic(self, ps: PolicySync):
        while True:
            yield self.m.env.timeout(self.resync_s)
            self.resync(ps, 0.0)

    def changed(self) -> None:
        """After any fault change: a site whose policy_sync or OPA went down loses its OPA's
        policies; one whose both just came back syncs at once (its start), if etcd is at hand;
        any other that fell behind resyncs after the reconnect's backoff."""
        for ps in self.syncs.values():
            view = self.m.views[ps.site]
            if not (view.policy_sync.up and view.opa.up):
                if not ps.down:
                    ps.down = ps.lost = True
                    ps.loaded, ps.pending, ps.syncing = 0, [], False
                    ps.epoch += 1
                continue
            back, ps.down = ps.down, False
            self.resync(ps, 0.0 if back else self.backoff_s)

    def _load(self, ps: PolicySync, revision: int) -> None:
        now = self.m.env.now
        was = ps.loaded
        for r in range(ps.loaded + 1, revision + 1):
            if self.commit_time[r] > now:  # not committed yet (a resync raced the commit)
                revision = r - 1
                break
            if r > ps.highest:  # a revision reloaded after a loss is not propagated again
                self.m.record("policy_sync", "policy-loaded",
                              {"site": ps.site, "revision": r, "delay_s": now - self.commit_time[r]}, now)
        ps.loaded = max(ps.loaded, revision)
        ps.highest = max(ps.highest, ps.loaded)
        if ps.loaded != was or ps.lost:
            self.m.record("policy_sync", "revision", {"site": ps.site, "revision": ps.loaded}, now)
        ps.lost = False
