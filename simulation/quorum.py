"""A Raft group (etcd, OpenBao, the vector store's consensus): write availability by quorum
arithmetic.

A group of n voters needs a majority, n // 2 + 1, to elect a leader and to commit a write,
so it tolerates (n - 1) // 2 lost voters: two voters tolerate none, three tolerate one. The
leader keeps its role while it reaches a majority directly (etcd's CheckQuorum, hashicorp/raft's
leader lease); otherwise it steps down at the next check, `step_down_s` x [1, 2) later (a
crashed leader is gone at once), and commits nothing meanwhile. Writes are available from a
site that reaches a voter connected to the leader (followers forward). `write_answer` says
how a write that cannot commit ends: refused at once by a member that knows it has no leader,
or held.

Elections: from the moment the leader is gone, the live voters campaign, one campaign every
randomised election timeout in [election, 2 * election) (etcd raft and hashicorp/raft alike
re-draw the timeout for every new campaign, pre-vote or not); a campaign wins once its
candidate reaches a majority. So with a majority at hand the leader comes [election,
2 * election) after the loss, as before; a majority that returns later (a member restarted,
a partition healed) is won at the survivors' next campaign, the residual of that cycle: 0 to
2 * election, on average E[T^2] / 2E[T] = 7/9 election (0.78 s for etcd, 3.9 s for OpenBao),
not a whole new timeout. Measured on dc2-down (seed, 3 runs at 696ca38): OpenBao's leader
came back 6.47, 8.38, 7.51 s after the heal began, DC2's member back and unsealed 3.6 s in
(params.STARTUP_S): 2.9-4.8 s after, inside the residual's range and below the whole timeout's
5 s minimum, which would give 8.6-13.6 s.

    >>> tolerates(2), tolerates(3), tolerates(5)
    (0, 1, 2)
"""

from __future__ import annotations

import random
from collections.abc import Callable

import simpy

from simulation.components import Station
from simulation.network import Network


def tolerates(voters: int) -> int:
    return (voters - 1) // 2


# How a member answers a write sent with etcd's require-leader metadata (the CMS sends its
# txns so, system/cms/stores.py): see RaftGroup.write_answer.
COMMIT = "commit"  # the member reaches a leader that has its majority
NO_LEADER = "no-leader"  # refused before raft, at once: certainly not applied
STEPPING_DOWN = "stepping-down"  # proposed to a leader cut off from its majority: unknown at its step-down
HELD = "held"  # forwarded towards a leader the member cannot reach: unknown at the client's deadline
UNREACHABLE = "unreachable"  # no member answers the client: unknown at the client's deadline


class RaftGroup:
    def __init__(self, env: simpy.Environment, kind: str, members: list[Station], net: Network,
                 election_s: float, rng: random.Random, record: Callable[..., None], step_down_s: float = 0.0) -> None:
        self.env, self.kind, self.members, self.net = env, kind, members, net
        self.election_s, self.rng, self.record, self.step_down_s = election_s, rng, record, step_down_s
        self.stepping_down = False
        self.step_down_at = float("inf")  # when a cut-off leader's pending step-down is due
        self.majority = len(members) // 2 + 1
        self.leader: Station | None = members[0] if members else None  # bootstrapped before traffic
        self.term = 1
        self.electing = False
        self.leaderless: list[list[float]] = []  # [start, stop] intervals without a leader
        self.commit_rtt = 0.0
        self._update_commit_rtt()

    # --- quorum arithmetic ---------------------------------------------------------------

    def reach(self, m: Station) -> list[Station]:
        """The live voters `m` reaches directly, itself included."""
        if not m.up:
            return []
        return [o for o in self.members if o.up and self.net.reachable(m.site, o.site)]

    def has_quorum(self, m: Station) -> bool:
        return len(self.reach(m)) >= self.majority

    def writable_from(self, site: str) -> Station | None:
        """A live voter reachable from `site` that can get a write to the leader, or None."""
        leader = self.leader
        if leader is None or not self.has_quorum(leader):  # cut off, not yet stepped down: nothing commits
            return None
        for m in sorted(self.members, key=lambda o: o.site != site):  # the local voter first
            if m.up and self.net.reachable(site, m.site) and self.net.reachable(m.site, leader.site):
                return m
        return None

    def write_answer(self, site: str) -> tuple[str, Station | None]:
        """How a write from `site` ends, and the member it is sent to: the first live one
        `site` reaches, local first. (The CMS of the recorded dc2-down runs knew only its local
        member; today's, system/common/etcd_members.py, also moves on after a "no leader"
        refusal to the next member, which the model does not follow: across a blackholed WAN
        that costs the rest of the 5 s deadline before the same 503.)

        - The cluster has no leader (stepped down or crashed, none elected yet): the member
          knows it and, asked with require-leader, refuses before raft -- UNAVAILABLE "no
          leader" within a round trip (etcd's v3rpc interceptor). NO_LEADER: the CMS rolls its
          pending record back and answers 503 "not applied" (measured on dc2-down: 0.06-0.35 s
          all through the outage, 1.2 s with a connect timeout to the dead gateway, none held).
        - The member reaches a leader that lost its majority and has not yet stepped down
          (`step_down_at`): the leader takes the proposal and cannot commit it; the client
          learns at the step-down, outcome unknown (measured: the two updates in flight at
          dc2-down's cut ended 503 "unknown" together at the step-down, 1.4 s after they started).
        - The member cannot reach the leader (partitioned from it): it forwards the proposal,
          which never arrives, and the client waits its deadline, outcome unknown. (Past its
          own election timeout such a follower drops its leader and refuses too; the model
          does not track each member's view of the leader, so it holds them all: an upper bound.)
        - No member reachable: nothing answers, the client waits its deadline.

        A write accepted by a leader that regains its majority before the step-down would
        commit; the model ends it at the step-down (a partition healed within 1-2 s)."""
        via = next((m for m in sorted(self.members, key=lambda o: o.site != site)
                    if m.up and self.net.reachable(site, m.site)), None)
        if via is None:
            return UNREACHABLE, None
        leader = self.leader
        if leader is None:
            return NO_LEADER, via
        if not self.net.reachable(via.site, leader.site):
            return HELD, via
        return (COMMIT if self.has_quorum(leader) else STEPPING_DOWN), via

    def up_to_date(self) -> list[Station]:
        """Voters receiving the leader's log: the leader and the live voters it reaches."""
        return self.reach(self.leader) if self.leader is not None else []

    # --- reacting to changes ---------------------------------------------------------------

    def update(self) -> None:
        """Call after every fault change: step down without a majority, elect when one exists."""
        if self.leader is not None and not self.has_quorum(self.leader):
            if not self.leader.up or self.step_down_s <= 0:
                self._lose()
            elif not self.stepping_down:
                self.stepping_down = True
                delay = self.step_down_s * (1.0 + self.rng.random())
                self.step_down_at = self.env.now + delay
                self.env.process(self._step_down(delay))
        if self.leader is None and not self.electing:
            self._campaign()
        self._update_commit_rtt()

    def _lose(self) -> None:
        now = self.env.now
        self.record(f"raft-{self.kind}", "leader-lost", {"leader": self.leader.name}, now)
        self.leader = None
        self.leaderless.append([now, float("inf")])
        if not self.electing:
            self._campaign()

    def _campaign(self) -> None:
        self.electing = True
        self.env.process(self._elect())

    def _step_down(self, delay: float):
        yield self.env.timeout(delay)
        self.stepping_down = False
        self.step_down_at = float("inf")
        if self.leader is not None and not self.has_quorum(self.leader):
            self._lose()
        self.update()

    def _elect(self):
        """Campaigns, one every randomised election timeout, until one wins (the module's
        docstring); ends if a leader appears otherwise."""
        while True:
            yield self.env.timeout(self.election_s * (1.0 + self.rng.random()))
            if self.leader is not None:
                self.electing = False
                return
            candidates = [m for m in self.members if self.has_quorum(m)]
            if candidates:
                break
            if not any(m.up for m in self.members):
                self.electing = False  # nobody left to campaign; update() starts again on a restart
                return
        self.electing = False
        self.leader = candidates[0] if len(candidates) == 1 else self.rng.choice(candidates)
        self.term += 1
        if self.leaderless:
            self.leaderless[-1][1] = self.env.now
        self.record(f"raft-{self.kind}", "leader-elected", {"leader": self.leader.name, "term": self.term},
                    self.env.now)
        self._update_commit_rtt()

    def _update_commit_rtt(self) -> None:
        # A write commits when the (majority - 1)-th fastest follower has acknowledged it.
        leader = self.leader
        if leader is None:
            self.commit_rtt = 0.0
            return
        rtts = sorted(self.net.mean_rtt(leader.site, m.site) for m in self.reach(leader) if m is not leader)
        need = self.majority - 1
        self.commit_rtt = rtts[need - 1] if need and len(rtts) >= need else 0.0

    def leaderless_s(self, until: float) -> float:
        return sum(min(b, until) - a for a, b in self.leaderless if a < until)
