"""`halab fidelity` on the seed lab: a baseline calibrates the model, dc2-down runs once and is
predicted with the calibrated parameters and the same seed; the table scores every metric."""

from __future__ import annotations

import json

import pytest

from chaos.fidelity import measure
from scenarios import fidelity

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_unknown_scenario_is_refused_before_anything_runs(seed_lab, tmp_path):
    with pytest.raises(KeyError, match="no-such"):
        measure(seed_lab, ["no-such"], 1, tmp_path / "f")
    assert not (tmp_path / "f").exists()


def test_fidelity_of_dc2_down(seed_lab, tmp_path):
    out = tmp_path / "fid"
    result = measure(seed_lab, ["dc2-down"], 1, out, seed=5)
    params = json.loads((out / "params.json").read_text())
    assert params["source"].endswith("baseline/history.jsonl")
    pred = json.loads((out / "dc2-down" / "run-1" / "prediction" / "summary.json").read_text())
    assert pred["source"] == "simulation" and pred["seed"] == 6 and pred["params"] == params["source"]
    doc = json.loads((out / "fidelity.json").read_text())
    rows = {r["metric"]: r for r in doc["scenarios"]["dc2-down"]}
    # What the seed preset shows with DC2 down, both sides: HAProxy detects, etcd has no leader.
    for name in ("failover detection", "without a Raft leader, etcd", "failed requests, policy_update",
                 "rag_query p99, during the fault"):
        assert rows[name]["measured"] and rows[name]["predicted"], name
    det = rows["failover detection"]
    # The tuned LB marks a dead gateway DOWN in 4-6 s (timeout check 1 s, fastinter 0.5 s).
    assert 3 < det["measured_median"] < 9 and 3 < det["predicted_median"] < 9
    assert det["within_goal"] == fidelity.Row("d", "s", det["measured"], det["predicted"]).within
    assert rows["failed requests, policy_update"]["measured_median"] > 0  # no etcd quorum: updates fail
    md = (out / "fidelity.md").read_text()
    assert "| failover detection (s) |" in md and "metrics within the goal" in md
    assert result.tables["dc2-down"] and not result.invalid, result.invalid


def test_a_scenario_the_model_cannot_predict_is_refused_before_anything_runs(seed_lab, tmp_path):
    with pytest.raises(KeyError, match="does not predict bao-active-down"):
        measure(seed_lab, ["dc2-down", "bao-active"], 1, tmp_path / "f")
    assert not (tmp_path / "f").exists()
