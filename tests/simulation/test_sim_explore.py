"""halab explore in the model (no Docker): a small seeded search finds what is known to be bad
for `seed` (one etcd member down: no majority, policy updates stop), shrinks it to faults that
all matter, and writes scenario files that `halab simulate` runs unchanged."""

from __future__ import annotations

import json

from click.testing import CliRunner

from harness.cli import main
from harness.spec import preset
from simulation import explore as ex


def test_a_small_search_finds_a_lost_etcd_majority_and_shrinks_it():
    topo = preset("seed")
    result = ex.explore("seed", "unavailability", budget=60, max_faults=2, seed=3, processes=1)
    # A drawn schedule that leaves a kind with no live instance is skipped, not scored.
    assert 50 <= result.tried <= 60 and result.per_second > 0
    worst = result.ranked[0]
    small = ex.shrink(topo, "unavailability", worst)
    assert small.score >= ex.SHRINK_KEEP * worst.score and small.score >= 20  # seconds without policy updates
    assert len(small.faults) <= len(worst.faults)
    # Every fault left matters: without any one of them the score falls below the kept share.
    for i in range(len(small.faults)):
        rest = small.faults[:i] + small.faults[i + 1:]
        assert not rest or (ex.evaluate(topo, "unavailability", rest) or 0) < ex.SHRINK_KEEP * worst.score
    assert any("etcd" in f.target or f.kind == "partition" or f.target == "dc2" or f.target == "dc1"
               for f in small.faults), small.faults
    # The witness keeps etcd's majority: the same schedule hurts far less on seed+witness.
    assert ex.evaluate(preset("seed+witness"), "unavailability", small.faults) < small.score / 2


def test_candidates_leave_out_what_is_total_by_construction():
    topo = preset("seed")
    cands = ex.candidates(topo)
    for total in ex.total_alone(topo):
        assert total not in cands
    assert ("site-down", "edge") in ex.total_alone(topo) and ("component-down", "etcd1") in cands


def test_explore_writes_scenario_files_simulate_runs(tmp_path):
    out = tmp_path / "ex"
    r = CliRunner().invoke(main, ["explore", "--budget", "40", "--top", "2", "--seed", "1", "--objective", "writes-at-risk",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "explore.json").read_text())
    assert doc["tried"] == 40 and doc["worst"] and doc["schedules_per_s"] > 0
    first = doc["worst"][0]
    assert "seed+witness" in first and first["score"] > 0
    r = CliRunner().invoke(main, ["simulate", "--scenario", first["file"], "--out", str(tmp_path / "sim")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "sim" / "scenario.json").read_text())["faults"] == json.loads(
        (out / "schedule-1.json").read_text())["faults"]


def test_a_schedule_file_is_a_chaos_entry_held_to_the_invariants(tmp_path):
    from scenarios.catalogue import entry

    path = tmp_path / "schedule-1.json"
    sc = ex.scenario_of((ex.Fault("component-down", "etcd1", 10.0, 30.0),), name="explored-unavailability-1")
    path.write_text(json.dumps(sc.to_dict()), encoding="utf-8")
    e = entry(str(path))
    assert e.scenario == sc and set(e.presets) >= {"seed", "seed+witness"}
    assert not e.expect["seed"].availability and e.expect["seed"].detection_s is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    r = CliRunner().invoke(main, ["chaos", "run", str(bad)])
    assert r.exit_code == 2 and "bad.json" in r.output, r.output
