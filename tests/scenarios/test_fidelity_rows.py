"""scenarios/fidelity.py on model-made histories (no Docker): two seeds of the same dc2-down
run, scored as if one were measured and one predicted."""

from __future__ import annotations

from harness.spec import preset
from scenarios import fidelity
from scenarios.catalogue import entry
from simulation.run import simulate


def test_two_seeds_of_the_model_agree_on_what_the_spec_fixes():
    sc = entry("dc2-down").scenario
    topo = preset("seed")
    runs = [(fidelity.metrics(simulate(topo, sc, seed=s).history(), sc),
             fidelity.metrics(simulate(topo, sc, seed=s + 10).history(), sc)) for s in (1, 2, 3)]
    rows = {r.name: r for r in fidelity.rows(runs)}
    assert len(rows["failover detection"].measured) == 3
    # HAProxy's check schedule and etcd's lost majority are the spec's, not the seed's.
    assert rows["failover detection"].within and rows["without a Raft leader, etcd"].within
    assert rows["failed requests, policy_update"].measured_median > 0
    # DC2's policy_sync back (its start-up time) and its first full sync: the spec's too.
    assert len(rows["policy convergence after heal"].measured) == 3
    assert rows["policy convergence after heal"].within
    md = fidelity.markdown("dc2-down", list(rows.values()))
    assert md.count("\n| ") == len(rows) + 1 and "| failover detection (s) |" in md


def test_a_large_miss_is_outside_the_goal():
    r = fidelity.Row("rag_query p99, before the fault", "ms", [27_000.0, 26_000.0], [930.0, 920.0])
    assert r.within is False and r.relative_error < -0.9
    assert fidelity.Row("failed requests, rag_query", "", [3.0], [6.0]).within is False  # 3 off: above the floor of 2
