"""`halab simulate` and `halab capacity` end to end, small."""

from __future__ import annotations

from click.testing import CliRunner

from harness.cli import main
from harness.history import read_jsonl


def test_simulate_prints_a_summary_and_writes_the_history(tmp_path) -> None:
    out = tmp_path / "history.jsonl"
    result = CliRunner().invoke(main, ["simulate", "--preset", "seed", "--scenario", "dc2-down", "--rps", "50",
                                       "--duration", "120", "--seed", "2", "--history", str(out)])
    assert result.exit_code == 0, result.output
    for text in ("rag_query", "policy_update", "site-down", "etcd", "tolerate 0 failure", "simulated requests/s"):
        assert text in result.output
    assert any(op.process == "nemesis" for op in read_jsonl(out))


def test_simulate_rejects_unknown_scenario() -> None:
    result = CliRunner().invoke(main, ["simulate", "--scenario", "meteor"])
    assert result.exit_code != 0 and "unknown scenario 'meteor'" in result.output


def test_capacity_prints_the_table_and_the_best_rate() -> None:
    result = CliRunner().invoke(main, ["capacity", "--rps", "50..400", "--points", "3", "--replicas", "1..2",
                                       "--slo-p95", "800ms", "--duration", "20"])
    assert result.exit_code == 0, result.output
    assert "highest rate meeting the SLO" in result.output and "rag util" in result.output


def test_simulate_out_writes_a_run_directory_calibrate_reads(tmp_path) -> None:
    import json

    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", "--rps", "30", "--duration", "60", "--steps", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"history.jsonl", "scenario.json", "params.json", "summary.json"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["availability"]["rag_query"]["availability"] == 1.0
    assert CliRunner().invoke(main, ["calibrate", str(out), "--out", str(tmp_path / "fit.json")]).exit_code == 0
