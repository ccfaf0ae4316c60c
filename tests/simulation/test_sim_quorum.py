"""Quorum arithmetic decides write availability: two voters tolerate no loss, three tolerate one.

Scenario: a Raft group of VOTERS voters, one per site; at FAULT_AT_S one site goes down.
With two voters the survivor has no majority and writes stop; with three, the two survivors
elect a leader within [election, 2 * election) and writes continue. The whole model shows the
same through policy updates (they write to etcd) on `seed` and `seed+witness`.
"""

from __future__ import annotations

import random

import pytest
import simpy

from harness.scenario import Fault, Load, Scenario
from harness.spec import Component, Link, Node, Site, Topology, preset
from simulation.components import Station
from simulation.network import Network
from simulation.quorum import RaftGroup, tolerates
from simulation.run import simulate

SEED = 5
ELECTION_S = 1.0  # etcd's default election timeout
FAULT_AT_S = 10.0  # seconds
RPS = 40.0  # requests per second, for the whole-model check
DURATION_S = 120.0


def group_of(voters: int):
    sites = [f"s{i}" for i in range(voters)]
    topo = Topology(
        "voters",
        tuple(Site(s, (Node(f"{s}-n", "data", (Component(f"etcd{i}", "etcd"),
                                                  *((Component("gw", "gateway"),) if i == 0 else ()))),))
              for i, s in enumerate(sites)),
        tuple(Link(a, b) for i, a in enumerate(sites) for b in sites[i + 1:]),
    )
    env = simpy.Environment()
    net = Network(topo, random.Random(SEED), 0.0001)
    members = [Station(f"etcd{i}", "etcd", s, 1, lambda: 0.001) for i, s in enumerate(sites)]
    events = []
    group = RaftGroup(env, "etcd", members, net, ELECTION_S, random.Random(SEED),
                      lambda *a: events.append(a))
    return env, net, members, group


@pytest.mark.parametrize("voters, writable_after_one_loss", [(2, False), (3, True), (5, True)])
def test_one_lost_voter(voters: int, writable_after_one_loss: bool) -> None:
    env, net, members, group = group_of(voters)
    assert tolerates(voters) == (voters - 1) // 2
    assert group.writable_from("s1") is not None
    env.run(until=FAULT_AT_S)
    members[0].crash()  # the bootstrap leader
    net.set_site("s0", False)
    group.update()
    assert group.leader is None and group.writable_from("s1") is None
    env.run(until=FAULT_AT_S + 2 * ELECTION_S + 0.001)
    assert (group.writable_from("s1") is not None) == writable_after_one_loss
    if writable_after_one_loss:
        lost, stop = group.leaderless[0]
        assert ELECTION_S <= stop - lost < 2 * ELECTION_S


def test_three_voters_do_not_survive_two_losses() -> None:
    env, net, members, group = group_of(3)
    for i in (0, 1):
        members[i].crash()
        net.set_site(f"s{i}", False)
    group.update()
    env.run(until=10)
    assert group.leader is None


def test_partition_of_two_voters_stops_writes_on_both_sides() -> None:
    env, net, members, group = group_of(2)
    net.cut("s0", "s1")
    group.update()
    env.run(until=10)
    assert group.writable_from("s0") is None and group.writable_from("s1") is None
    net.heal("s0", "s1")
    group.update()
    env.run(until=12.001)
    assert group.writable_from("s1") is not None


def policy_availability(topology: str) -> float:
    scenario = Scenario("dc2-down", Load.constant(RPS, DURATION_S, (("policy_update", 1.0),)),
                        (Fault("site-down", "dc2", 30.0, 90.0),))
    return simulate(preset(topology), scenario, seed=SEED).availability()["policy_update"].availability


def test_the_witness_keeps_policy_updates_available_through_a_dc_outage() -> None:
    seed_av, witness_av = policy_availability("seed"), policy_availability("seed+witness")
    print(f"\npolicy_update availability with dc2 down half the run: seed {seed_av:.3f}, seed+witness {witness_av:.3f}")
    assert seed_av < 0.6  # every write during the outage: no quorum
    assert witness_av > 0.99  # only the in-flight ones are lost


def test_a_leader_cut_off_from_its_majority_steps_down_at_the_next_check_and_commits_nothing_before() -> None:
    """CheckQuorum: the live leader of two voters that loses its peer keeps the role until its
    next check, [step_down, 2 * step_down) later, and accepts no write in between."""
    env, net, members, _ = group_of(2)
    events = []
    group = RaftGroup(env, "etcd", members, net, ELECTION_S, random.Random(SEED), lambda *a: events.append(a),
                      step_down_s=ELECTION_S)
    leader = group.leader
    other = next(m for m in members if m is not leader)
    env.run(until=FAULT_AT_S)
    other.crash()
    group.update()
    assert group.leader is leader and group.writable_from(leader.site) is None  # cut off: nothing commits
    env.run(until=FAULT_AT_S + 3 * ELECTION_S)
    assert group.leader is None
    (lost,) = [e for e in events if e[1] == "leader-lost"]
    assert FAULT_AT_S + ELECTION_S <= lost[3] < FAULT_AT_S + 2 * ELECTION_S
    assert group.leaderless[0][0] == lost[3]


def test_a_crashed_leader_is_gone_at_once() -> None:
    env, net, members, _ = group_of(3)
    group = RaftGroup(env, "etcd", members, net, ELECTION_S, random.Random(SEED), lambda *a: None, step_down_s=ELECTION_S)
    env.run(until=FAULT_AT_S)
    group.leader.crash()
    group.update()
    assert group.leader is None and group.leaderless == [[FAULT_AT_S, float("inf")]]


def test_a_majority_that_returns_is_won_at_the_survivors_next_campaign() -> None:
    """Leaderless, the survivor campaigns every [election, 2 * election) from the loss; a voter
    back later gives it the majority at its next campaign: within 2 * election of the return,
    and as often as not sooner than one election timeout, which a fresh election could not be."""
    waits = []
    for k in range(20):
        env, net, members, group = group_of(2)
        env.run(until=FAULT_AT_S)
        members[1].crash()
        group.update()
        assert group.leader is None  # two voters: the survivor has no majority
        back = FAULT_AT_S + 20.0 + 0.37 * k
        env.run(until=back)
        members[1].restart(back)
        group.update()
        env.run(until=back + 2 * ELECTION_S + 0.001)
        assert group.leader is not None
        waits.append(group.leaderless[0][1] - back)
    assert all(0.0 <= w < 2 * ELECTION_S for w in waits)
    assert min(waits) < ELECTION_S
