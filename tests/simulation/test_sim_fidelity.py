"""The model held to recorded measurements, without a lab: the runs `halab fidelity` measured
on the seed lab (tests/simulation/fixtures/fidelity-seed), predicted again by today's model
calibrated from the same baseline. A model change that moves a prediction out of the goal
fails here; the metrics the model does not yet meet are listed, and one that starts to meet
the goal fails too, so that the list is kept true."""

from __future__ import annotations

from pathlib import Path

from harness.history import read_jsonl
from harness.spec import preset
from scenarios import fidelity
from scenarios.catalogue import entry
from simulation.calibrate import calibrate
from simulation.run import simulate

RUNS = Path(__file__).parent / "fixtures" / "fidelity-seed"

# Outside the goal today, and why (the model lacks it):
KNOWN_MISSES = {
    # HAProxy marks gateway2 up ~2 s later than the model's start-up + rise predicts.
    "recovery after heal",
    # The tail of the CMS's path: with MongoDB's writes fitted apart from its reads the p50 is
    # within the goal; its tail grows with the rate (CMS contention the model lacks).
    "policy_update p95, before the fault", "policy_update p99, before the fault",
    # Queries in flight to DC2 at the kill: in the lab about half are answered ~27 s later by
    # the restarted DC2 (the WAN proxy held the bytes and delivers them to the new gateway: a
    # lab artifact), the rest fail once DC2 is back; the model holds them to the 60 s timeout
    # as unknown (not in the ok latency). Neither is what production does (a reset when DC2 returns).
    "rag_query p95, before the fault", "rag_query p99, before the fault",
    # The same queries: the lab's late answers are not failures, the model's 60 s timeouts are.
    "failed requests, rag_query",
    # Propagation p99 over ~20 acknowledged updates a run is its one or two slowest loads.
    # dc2: in both runs DC2's restarted policy_sync finished its first full sync 6.3 s after the
    # heal began (41.31 s), and the one update acknowledged between etcd's new leader and then
    # waited for it (0.52 s, 1.66 s). The model starts policy_sync 4.7 s after the heal
    # (STARTUP_S, measured at rest), so that window rarely holds an update -- the same start-up
    # lag under the heal as "recovery after heal"; nor does it model the first sync's PUT of
    # every policy into the restarted OPA (~0.26 s measured).
    # dc1: its slowest loads (37-121 ms) fall while DC2's containers boot on the lab's one
    # shared host, or just before the cut; the model has no CPU shared between the DCs.
    "propagation p99, dc1", "propagation p99, dc2",
}


def test_dc2_down_prediction_stays_within_the_goal_on_the_recorded_runs():
    topo = preset("seed+naive-lb")  # the LB the recorded runs had (before HAProxy was tuned)
    sc = entry("dc2-down").scenario
    params, counts = calibrate(RUNS / "baseline", topo)
    assert sum(counts.values()) > 100
    pairs = []
    for i in (1, 2):
        measured = read_jsonl(RUNS / "dc2-down" / f"run-{i}" / "history.jsonl")
        pairs.append((fidelity.metrics(measured, sc), fidelity.metrics(simulate(topo, sc, params, seed=i).history(), sc)))
    rows = fidelity.rows(pairs)
    print("\n" + fidelity.markdown("dc2-down, recorded runs re-predicted", rows))
    scored = {r.name: r.within for r in rows if r.within is not None}
    assert {"failover detection", "without a Raft leader, etcd", "without a Raft leader, vault",
            "failed requests, policy_update", "unavailable, policy_update", "rag_query p99, during the fault"} <= set(scored)
    missed = {n for n, ok in scored.items() if not ok}
    assert missed - KNOWN_MISSES == set(), "newly outside the goal"
    assert KNOWN_MISSES - missed == set(), "now within the goal: take it off KNOWN_MISSES"
