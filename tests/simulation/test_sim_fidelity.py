"""The model held to recorded measurements, without a lab: runs `halab fidelity` measured on
the seed lab (tests/simulation/fixtures/fidelity-*), predicted again by today's model
calibrated from the same baseline. A model change that moves a prediction out of the goal
fails here; the metrics the model does not yet meet are listed per recording, and one that
starts to meet the goal fails too, so that the lists are kept true."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.history import read_jsonl
from harness.spec import preset
from scenarios import fidelity
from scenarios.catalogue import entry
from simulation.calibrate import calibrate
from simulation.run import simulate

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Recording:
    directory: str
    preset: str  # the LB the recorded runs had
    runs: int
    known_misses: frozenset[str]  # outside the goal today, each with why in a comment


NAIVE_LB = Recording("fidelity-seed", "seed+naive-lb", 2, frozenset({
    # Detection is the first DOWN mark by either LB. The model's LBs check in step, as the lab's
    # do (simulation/lb.py): 10 + U(0, 2) s, 11.0 s on average over 40 seeds (10.1-12.0); seeds
    # 1 and 2 give 11.62 against 10.34 and 10.73 measured (+10.3 %). In run 1 of this older
    # recording the LBs were 1.5 s out of step (lb2 marked gateway2 DOWN at 20.34 s, lb1 at
    # 21.88 s), so the earlier of two phases counted; in its other three marks they were in step.
    "failover detection",
    # UP comes `rise` checks after gateway2 is ready: up and its routes loaded from etcd, which
    # needs etcd's leader (simulation/lb.py). Each run's UP follows so from its DOWN mark: the
    # checks came every 4 s while timing out, then every 2 s once refused, the first pass at
    # the first 2 s step after readiness, UP 2 s later (`rise` 2 x `inter`). What sets it here
    # is readiness: this older lab, on a slower host (its components' service times calibrated
    # 1.6-3.6x today's recording's; its heal 8.1-8.3 s against 5.1-5.7 s), had etcd's leader
    # back only 5.8 and 4.9 s after the heal began (today's lab: 2.7-3.1 s) and gateway2
    # answering at 5.6 and 4.8 s, 0.2 s before it: ready only with etcd's leader. The model's
    # start-ups were measured at rest, and today's lab keeps them under the heal (gateway 4.1 s;
    # etcd's member 2.4 s, its leader 3.2 s on average), so it predicts 6.1-8.1 s over 40
    # seeds, 6.81 and 6.43 s for seeds 1 and 2, against 9.20 and 8.02 s. With each run's own
    # phase (its detection less the instrument's 0-0.2 s) the model gives 7.1-7.3 and 7.5-7.7 s:
    # run 2 within 4-7 %; run 1 waited one 2 s step more, for etcd.
    "recovery after heal",
    # The tail of the CMS's path: with MongoDB's writes fitted apart from its reads the p50 is
    # within the goal; its tail grows with the rate (CMS contention the model lacks).
    "policy_update p95, before the fault", "policy_update p99, before the fault",
    # Queries in flight to DC2 at the kill: in the lab about half are answered ~27 s later by
    # the restarted DC2 (the WAN proxy held the bytes and delivers them to the new gateway: a
    # lab artifact, gone since the WAN link follows the containers' liveness), the rest fail
    # once DC2 is back; the model holds them to the 60 s timeout as unknown (not in the ok
    # latency). Neither is what production does (a reset when DC2 returns).
    "rag_query p95, before the fault", "rag_query p99, before the fault",
    # The same queries: the lab's late answers are not failures, the model's 60 s timeouts are.
    "failed requests, rag_query",
    # Propagation p99 over ~20 acknowledged updates a run is its one or two slowest loads.
    # dc2: in both runs DC2's restarted policy_sync finished its first full sync 6.3 s after the
    # heal began (41.31 s), and the one update acknowledged between etcd's new leader (5.8 and
    # 4.9 s after the heal) and then waited for it (0.52 s, 1.66 s). In the model etcd's leader
    # is back 3.2 s after the heal on average and policy_sync starts at 4.7 s (STARTUP_S,
    # measured at rest): an update acknowledged in between waits, 0.48 s the p99 of seeds 1 and
    # 2 against 0.86 s measured -- this older lab's slow start under the heal, as in "recovery
    # after heal"; nor does the model have the first sync's PUT of every policy into the
    # restarted OPA (~0.26 s measured).
    # dc1: its slowest loads (37-121 ms) fall while DC2's containers boot on the lab's one
    # shared host, or just before the cut; the model has no CPU shared between the DCs.
    "propagation p99, dc1", "propagation p99, dc2",
    # From the heal to every site's OPA holding every acknowledged update (checkers.after_heal):
    # on dc2-down, DC2's restarted policy_sync done with its first full sync into the empty
    # OPA. Measured 6.31 s in both runs (run 1: policy_sync answered, at revision 0, 6.05 s
    # after the heal began, and had synced 0.26 s later). The model starts policy_sync 4.7 s
    # after the heal (STARTUP_S, measured at rest on today's lab) and syncs at once, etcd's
    # leader being back by then: 4.73 and 4.75 s for seeds 1 and 2 (4.71-4.78 over 40 seeds),
    # -25 %. This older lab's slow start under the heal again, as in "recovery after heal";
    # today's recording (4.19-4.39 s) is within the goal.
    "policy convergence after heal",
}))

# Today's lab: the tuned LB (flow timeouts, read retries, http-server-close), TLS on the
# request path, the WAN link dark with DC2's containers.
TUNED_TLS = Recording("fidelity-seed-tls", "seed", 3, frozenset({
    # Detection: U(0, 2) + 1 + 2 * (0.5 + 1) s in the model, 4.97 s on average over 40 seeds
    # (4.1-6.0), 5.43 s the median of seeds 1-3; measured 4.50, 6.12, 6.22 s. TLS does not
    # lengthen it: a check of the blackholed gateway fails at the 1 s connect timeout, before
    # any handshake; a passing check's handshake (milliseconds) only shifts the phase. What the
    # model leaves out is the instrument's, ~0.2 s: the nemesis blackholes gateway2's route
    # ~0.1 s after its `start` event, and the observer polls HAProxy every 0.25 s. The rest is
    # the phase: three runs cannot pin a U(0, 2 s) draw (two of them fell near its top).
    "failover detection",
    # Recovery is the same phase's: gateway2's checks after its DOWN mark come every timeout +
    # inter (3 s) while it is a blackhole, every inter (2 s) once its container runs (refused,
    # then /readyz 503), and it is UP `fastinter` after the first check that finds it ready
    # (simulation/lb.py): ready 4.1 s after the heal, that is 4.5 s + the detection's U(0, 2)
    # draw. The lab's runs follow it: detection 4.50, 6.12 s and recovery 4.97, 6.69 s; with
    # each run's phase the model gives 4.8-5.0 and 6.4-6.5 s. Run 3 (detection 6.22 s) got UP
    # 4.64 s after the heal: its gateway answered 2.8-3.5 s after the heal, ready for the check
    # at 3.9 s that the model's 4.1 s misses by 0.2 s, so the model waits one inter more there
    # (6.5 s). Seeds 1-3 draw the phase at 1.8, 1.4, 1.4 s: 6.31, 5.93, 5.90 s predicted, +19 %
    # on the median. Over 40 seeds the model's mean is 5.52 s (4.6-6.7), the runs' 5.43 s:
    # three runs cannot pin the phase, as for detection.
    "recovery after heal",
    # Not the flow timeout: no policy update took 5 s in these runs; those sent to gateway2
    # after the kill were redispatched after the 1 s connect timeout and refused by etcd
    # (1.2-1.3 s), in the model too. Not etcd's return either: its leader is back 3.6-4.2 s
    # after the heal in seeds 1-3 (2.7-3.1 s measured; without a leader 26.85 s against 25.63 s,
    # within the goal). The model fails 37 against 32, its first failure 0.1-0.3 s after the cut
    # against 0.7-3.7 s measured: not yet analysed.
    "unavailable, policy_update", "failed requests, policy_update",
    # The CMS path's tail before the fault (216 ms measured, 179 predicted), as in the naive-LB
    # recording; not analysed on these runs.
    "policy_update p99, before the fault",
    # Queries in flight to DC2 at the kill: HAProxy's flow timeout, then DC1 answers the retry,
    # 6.7-6.9 s after the query's start, in the lab and in the model alike (p99 within the goal).
    # p95 over the ~45 queries before the fault is the third slowest: 5-6 s when three were in
    # flight to DC2 at the kill, under 2.4 s when two. Measured 3, 3, 2 (p95 5.0, 6.2, 2.3 s);
    # the model's seeds 1-3 have 3, 2, 2 (p95 4.4, 0.9, 0.9 s), 1.7 a run on average over 40
    # seeds (about 2.4 queries/s to DC2 x 0.77 s).
    "rag_query p95, before the fault",
    # As in the naive-LB recording: DC2's policy_sync starting under load, CPU shared across DCs.
    "propagation p99, dc1", "propagation p99, dc2",
}))


@pytest.mark.parametrize("rec", [NAIVE_LB, TUNED_TLS], ids=lambda r: r.directory)
def test_dc2_down_prediction_stays_within_the_goal_on_the_recorded_runs(rec: Recording):
    runs = FIXTURES / rec.directory
    topo = preset(rec.preset)
    sc = entry("dc2-down").scenario
    params, counts = calibrate(runs / "baseline", topo)
    assert sum(counts.values()) > 100
    pairs = []
    for i in range(1, rec.runs + 1):
        measured = read_jsonl(runs / "dc2-down" / f"run-{i}" / "history.jsonl")
        pairs.append((fidelity.metrics(measured, sc), fidelity.metrics(simulate(topo, sc, params, seed=i).history(), sc)))
    rows = fidelity.rows(pairs)
    print("\n" + fidelity.markdown(f"dc2-down, {rec.directory} re-predicted", rows))
    scored = {r.name: r.within for r in rows if r.within is not None}
    assert {"failover detection", "without a Raft leader, etcd", "without a Raft leader, vault",
            "failed requests, policy_update", "unavailable, policy_update", "rag_query p99, during the fault"} <= set(scored)
    missed = {n for n, ok in scored.items() if not ok}
    assert missed - rec.known_misses == set(), "newly outside the goal"
    assert rec.known_misses - missed == set(), "now within the goal: take it off the known misses"
