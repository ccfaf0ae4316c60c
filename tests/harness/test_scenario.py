"""harness/scenario: load profiles, fault schedules, entry records, JSON and TOML files."""

from __future__ import annotations

import doctest
import json

import pytest

import harness.scenario as scenario
from harness.scenario import EntryRef, Fault, Load, Scenario, ScenarioError, Stage


def test_doctests() -> None:
    assert doctest.testmod(scenario).failed == 0


def test_entry_specs_read_back() -> None:
    for ref in (EntryRef("dc2-down"), EntryRef("baseline", 12.0), EntryRef("dc2-down", 200.0, 3600.0), EntryRef("x", 0.5, 2.5)):
        assert EntryRef.parse(ref.spec) == ref
    for bad in ("dc2-down@", "dc2-down@0", "dc2-down@1001", "dc2-down@nan", "dc2-down@20/", "dc2-down@20/0",
                "dc2-down@20/inf", "dc2-down@20/60/2", "dc2-down@/60"):
        with pytest.raises(ScenarioError, match="NAME@RPS or NAME@RPS/DURATION"):
            EntryRef.parse(bad)


def test_a_new_load_is_recorded_in_the_entry() -> None:
    s = Scenario("d", Load.constant(6, 50), (Fault("site-down", "dc2", 10, 35),), entry=EntryRef("d"))
    assert s.with_load(rps=20).entry == EntryRef("d", 20.0)
    assert s.with_load(duration_s=100).entry == EntryRef("d", 6.0, 100.0)
    assert s.with_load(rps=20, duration_s=100).with_load(duration_s=50).entry == EntryRef("d", 20.0, 50.0)
    assert Scenario("f", Load.constant(6, 50)).with_load(rps=20).entry is None


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
    s = Scenario("wan-latency", Load.constant(200, 600),
                 (Fault("latency", "dc1,dc2", 120.0, 420.0, {"latency_ms": 100.0, "jitter_ms": 20.0}),),
                 "The WAN between the DCs slows.", EntryRef("wan-latency", 200.0, 600.0))
    path = tmp_path / "s.json"
    path.write_text(json.dumps(s.to_dict()))
    assert scenario.load(path) == s
    plain = Scenario("made-in-code", Load.constant(8, 60))
    assert "entry" not in plain.to_dict() and Scenario.from_dict(plain.to_dict()) == plain


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
    s = scenario.load(str(path))
    assert s.load.rate_at(70) == 400 and s.load.shares()["policy_update"] == pytest.approx(0.1)
    assert s.faults == (Fault("partition", "dc1", 30.0, 90.0),)
    assert s.faults[0].sites == ("dc1",)


def test_missing_field_is_named() -> None:
    with pytest.raises(ScenarioError, match="missing the field 'load'"):
        Scenario.from_dict({"name": "x"})
