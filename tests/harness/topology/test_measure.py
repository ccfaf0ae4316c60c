"""`halab measure`'s engine on the real `seed` lab: a measured history the checkers and
`halab calibrate` read like a predicted one."""

from __future__ import annotations

import json

import pytest

from chaos.run import write
from harness.clients.measure import measure
from harness.history import completions, read_jsonl
from scenarios.catalogue import entry
from simulation.calibrate import calibrate

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_a_measured_baseline_is_a_history_calibrate_fits_from(seed_lab, tmp_path):
    sc = entry("baseline@8/12").scenario
    history, driver = measure(seed_lab, sc, seed=3, workers=32)
    done = completions(history)
    invokes = [op for op in history if op.type == "invoke"]
    assert len(invokes) == len(done) == driver["requests"] > 50
    assert {op.type for op in done} == {"ok"}, [op for op in done if op.type != "ok"][:3]
    assert {op.f for op in done} == {"rag_query", "policy_update"}
    # HAProxy balances round robin across the DCs' gateways and says which one answered.
    assert {op.site for op in done} == {"dc1", "dc2"}
    queries = [op for op in done if op.f == "rag_query"]
    assert all({"gateway", "opa", "profile", "search", "metadata", "llm"} <= set(op.steps) for op in queries)
    assert all(op.steps["llm"] < op.latency for op in queries)
    updates = [op for op in done if op.f == "policy_update"]
    assert all({"gateway", "cms", "etcd_txn", "mongo_pending"} <= set(op.steps) for op in updates)
    versions = sorted((op.value["policy"], op.value["version"]) for op in updates)
    assert len(set(versions)) == len(updates) and all(v >= 2 for _, v in versions)

    out = write(tmp_path / "run", seed_lab, sc, history, driver, [], predict=False, seed=3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"] == "harness" and summary["availability"]["rag_query"]["availability"] == 1.0
    assert read_jsonl(out / "history.jsonl") == history
    params, counts = calibrate(out, seed_lab.plan.topology)
    assert counts["gateway"] == len(done) and counts["vectordb"] == len(queries)
    assert 0 < params.stations["gateway"].service.mean < 0.05
