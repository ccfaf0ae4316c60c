"""Calibration round trip: a baseline simulated with step timings is "measured"; calibrate
must recover the service times the model was run with.

Scenario: RPS requests per second for DURATION_S on `seed` at low utilisation, with rag's
service time changed to RAG_MEAN_S; the fitted file must give back about RAG_MEAN_S and the
defaults for the rest.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.history import write_jsonl
from harness.scenario import Load, Scenario
from harness.spec import preset
from simulation.calibrate import calibrate, fit_steps
from simulation.cli import calibrate as calibrate_cmd
from simulation.params import STATIONS, Dist, ModelParams
from simulation.run import simulate

SEED = 3
RPS = 20.0  # requests per second: low utilisation, so waits are negligible
DURATION_S = 300.0
RAG_MEAN_S = 0.010  # seconds


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    params = ModelParams().with_station("rag", service=Dist("lognormal", RAG_MEAN_S, 0.5))
    r = simulate(preset("seed"), Scenario("baseline", Load.constant(RPS, DURATION_S)), params, SEED, record_steps=True)
    d = tmp_path_factory.mktemp("run")
    write_jsonl(r.history(), d / "history.jsonl")
    return d


def test_calibrate_recovers_the_service_times(run_dir) -> None:
    params, counts = calibrate(run_dir)
    assert counts["rag"] > 1000
    assert params.station("rag").service.mean == pytest.approx(RAG_MEAN_S, rel=0.05)
    assert params.station("rag").service.cv == pytest.approx(0.5, rel=0.15)
    for kind in ("opa", "vectordb", "mongo", "llm", "cms", "gateway"):
        assert params.station(kind).service.mean == pytest.approx(STATIONS[kind].service.mean, rel=0.1), kind
    assert params.station("etcd").service.mean == pytest.approx(STATIONS["etcd"].service.mean, rel=0.15)
    # MongoDB sits behind a jittery WAN link: its variance must come out without the jitter's.
    assert params.station("mongo").service.cv == pytest.approx(STATIONS["mongo"].service.cv, rel=0.1)


def test_calibrate_command_writes_a_params_file_simulate_accepts(run_dir) -> None:
    result = CliRunner().invoke(calibrate_cmd, [str(run_dir)])
    assert result.exit_code == 0, result.output
    written = json.loads((run_dir / "params.json").read_text())
    assert written["stations"]["rag"]["service"]["kind"] == "lognormal"
    assert ModelParams.load(run_dir / "params.json").station("rag").service.mean == pytest.approx(RAG_MEAN_S, rel=0.05)


def test_calibrate_without_history_is_a_clear_error(tmp_path) -> None:
    result = CliRunner().invoke(calibrate_cmd, [str(tmp_path)])
    assert result.exit_code != 0 and "no history to calibrate from" in result.output


def test_too_few_samples_keep_the_default() -> None:
    from harness.history import Op

    few = [Op(i, "ok", "rag_query", time=1.0, latency=1.0, site="dc1", steps={"opa": 0.5}) for i in range(5)]
    assert fit_steps(few, preset("seed")) == {}
