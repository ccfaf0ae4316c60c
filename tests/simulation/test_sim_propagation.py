"""The model's policy propagation: one bundle activation at a time per site, holding whatever
queued meanwhile; an activation grows with the policies loaded, a document write does not."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from harness.spec import preset
from scenarios.checkers.latency import percentile
from simulation.params import ModelParams
from simulation.propagation import fit, predict

SEED = preset("seed")


def test_a_rate_past_one_activation_per_update_stays_bounded_by_batching() -> None:
    """100 policies loaded: an activation takes ~0.2 s, so 10 updates/s activated one by one
    would trail by ~10 s after 100 updates; batched, an update waits out at most the
    activation in progress and its own."""
    params = ModelParams(put_curve=((1, 0.005), (100, 0.2)))
    delays = predict(SEED, params, policies=100, rate="10", updates=100)
    for site, d in delays.items():
        assert len(d) == 100, site
        assert max(d) < 1.5, (site, max(d))


def test_the_data_path_does_not_grow_with_the_policies_loaded() -> None:
    params = ModelParams(put_curve=((1, 0.005), (1000, 2.0)), data_put_s=0.002)
    rego = predict(SEED, params, policies=1000, rate="10", updates=50)
    data = predict(SEED, params, policies=1000, rate="10", updates=50, path="data")
    p99 = lambda d: percentile(sorted(d), 99)
    for site in ("dc1", "dc2"):
        assert p99(data[site]) < 0.1 < 2.0 < p99(rego[site]), (site, p99(data[site]), p99(rego[site]))


def test_sequential_propagation_grows_with_the_policies_loaded() -> None:
    params = ModelParams(put_curve=((1, 0.005), (100, 0.2)))
    one = predict(SEED, params, policies=1, rate="seq", updates=30)
    hundred = predict(SEED, params, policies=100, rate="seq", updates=30)
    p50 = lambda d: percentile(sorted(d), 50)
    assert p50(hundred["dc1"]) > 10 * p50(one["dc1"])
    # DC2 watches its own member, which has the entry a WAN hop after the leader in DC1.
    assert p50(hundred["dc2"]) > p50(hundred["dc1"])


def _row(policies: int, p50_ms: float, p99_ms: float) -> dict:
    share = {"decision_after_watch": {"p50_ms": p50_ms, "p99_ms": p99_ms}}
    return {"rate": "seq", "size": "1k", "policies": policies, "dc1": share, "dc2": share}


def test_the_fit_is_the_measured_curve_with_the_largest_rows_spread() -> None:
    """Sigma from the 100-policy row (p99 twice p50): ln 2 / 2.326; mean = median e^(sigma^2/2)."""
    params = fit([_row(1, 7.0, 50.0), _row(10, 25.0, 60.0), _row(100, 205.0, 410.0)])
    assert params.put_curve == ((1, 0.007), (10, 0.025), (100, 0.205))
    sigma = math.log(2) / 2.326
    service = params.station("policy_sync").service
    assert service.mean == pytest.approx(0.007 * math.exp(sigma ** 2 / 2))
    assert service.cv == pytest.approx(math.sqrt(math.exp(sigma ** 2) - 1))
    assert replace(params, policies=55).put_scale() == pytest.approx((0.025 + 0.18 * 45 / 90) / 0.007)
    assert replace(params, policies=1000).put_scale() == pytest.approx(0.205 / 0.007)  # flat past the end
    with pytest.raises(ValueError, match="one more policy count"):
        fit([_row(1, 7.0, 9.0)])
    data = fit([_row(1, 7.0, 50.0), _row(100, 205.0, 410.0), {**_row(1, 3.0, 9.0), "path": "data"},
                {**_row(1000, 5.0, 9.0), "path": "data"}])
    assert data.put_curve == ((1, 0.007), (100, 0.205)) and data.data_put_s == pytest.approx(0.004)


def test_halab_propagation_fits_predicts_and_writes_params(tmp_path) -> None:
    from click.testing import CliRunner

    from simulation.cli import propagation

    def row(policies: int, rate: str, p50_ms: float) -> dict:
        share = {"p50_ms": p50_ms, "p99_ms": 2 * p50_ms}
        site = {"decision_after_watch": share, "decision_after_ack": share}
        return {"policies": policies, "size": "1k", "rate": rate, "updates": 30, "dc1": site, "dc2": site}

    bench = tmp_path / "propagation.json"
    bench.write_text(json.dumps({"rows": [row(1, "seq", 7.0), row(100, "seq", 205.0),
                                                        row(100, "10", 400.0)]}))
    result = CliRunner().invoke(propagation, [str(bench)])
    assert result.exit_code == 0, result.output
    assert "per policies loaded: 1: 7.0, 100: 205.0" in result.output
    assert result.output.count("dc2") >= 3
    params = ModelParams.load(tmp_path / "propagation-params.json")
    assert params.put_curve == ((1, 0.007), (100, 0.205)) and params.source.endswith("propagation-params.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}')
    refused = CliRunner().invoke(propagation, [str(bad)])
    assert refused.exit_code != 0 and "one more policy count" in refused.output
