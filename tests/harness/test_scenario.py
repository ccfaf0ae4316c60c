"""harness/scenario: load profiles, fault schedules, presets, JSON and TOML files."""

from __future__ import annotations

import doctest
import json

import pytest

import harness.scenario as scenario
from harness.scenario import Fault, Load, Scenario, ScenarioError, Stage


def test_doctests() -> None:
    assert doctest.testmod(scenario).failed == 0


def test_required_presets_exist() -> None:
    for name in ("baseline", "dc2-down", "partition", "vault-down"):
        assert scenario.preset(name).name == name
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'; known: baseline"):
        scenario.preset("nope")


def test_stages_and_mix() -> None:
    load = Load((Stage(10, 50), Stage(20, 100)), (("rag_query", 3), ("policy_update", 1)))
    assert load.duration_s == 30
    assert [load.rate_at(t) for t in (0, 9.9, 10, 29.9, 30)] == [50, 50, 100, 100, None]
    assert load.shares() == {"rag_query": 0.75, "policy_update": 0.25}


def test_bad_faults_and_loads_are_errors() -> None:
    with pytest.raises(ScenarioError, match="unknown fault kind 'meteor'"):
        Fault("meteor", "dc1", 0, 1)
    with pytest.raises(ScenarioError, match="start_s < stop_s"):
        Fault("site-down", "dc1", 5, 5)
    with pytest.raises(ScenarioError, match="unknown flow"):
        Load.constant(10, 10, (("checkout", 1.0),))


def test_json_round_trip(tmp_path) -> None:
    s = scenario.preset("wan-latency")
    path = tmp_path / "s.json"
    path.write_text(json.dumps(s.to_dict()))
    assert scenario.load(path) == s


def test_toml_file(tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        """
name = "ramp-and-cut"
[load]
stages = [{duration_s = 60, rps = 100}, {duration_s = 60, rps = 400}]
mix = {rag_query = 0.9, policy_update = 0.1}
[[faults]]
kind = "partition"
target = "dc1"
start_s = 30
stop_s = 90
"""
    )
    s = scenario.resolve(str(path))
    assert s.load.rate_at(70) == 400 and s.load.shares()["policy_update"] == pytest.approx(0.1)
    assert s.faults == (Fault("partition", "dc1", 30.0, 90.0),)
    assert s.faults[0].sites == ("dc1",)


def test_missing_field_is_named() -> None:
    with pytest.raises(ScenarioError, match="missing the field 'load'"):
        Scenario.from_dict({"name": "x"})
