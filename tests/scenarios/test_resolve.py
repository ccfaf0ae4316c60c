"""The catalogue as the one scenario registry: every `--scenario` resolves through
scenarios.catalogue.entry, runs record the entry, and verdicts come from that record."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.scenario import EntryRef, ScenarioError
from reports import rundir, verdicts
from scenarios.catalogue import CATALOGUE, NotResolved, entry


def test_every_entry_resolves_by_its_name_and_records_it() -> None:
    for name, e in CATALOGUE.items():
        assert entry(name) is e and e.scenario.entry == EntryRef(name)  # a run of CATALOGUE[name] records it too


def test_unknown_names_and_bad_suffixes_say_what_is_known_and_expected() -> None:
    # Every entry is named, whatever a new one adds to the list.
    with pytest.raises(NotResolved, match="unknown scenario 'vault-dwon': the catalogue has .*" + ".*".join(sorted(CATALOGUE))):
        entry("vault-dwon")
    with pytest.raises(NotResolved, match=r"'dc2-down@fast': a catalogue scenario is NAME, NAME@RPS or NAME@RPS/DURATION"):
        entry("dc2-down@fast")
    # one error, both kinds: the scenario commands catch ScenarioError, the catalogue's KeyError
    assert issubclass(NotResolved, ScenarioError) and issubclass(NotResolved, KeyError)
    with pytest.raises(NotResolved, match="scenario file .*nowhere.json"):
        entry("nowhere.json")


def test_a_new_duration_scales_the_faults_and_keeps_the_expectations() -> None:
    e = entry("wan-latency@200/600")  # 10-30 s of 40 s
    assert [(f.start_s, f.stop_s) for f in e.scenario.faults] == [(150.0, 450.0)]
    assert e.scenario.load.duration_s == 600.0 and e.scenario.load.stages[0].rps == 200.0
    assert e.expect == CATALOGUE["wan-latency"].expect and e.xfail == CATALOGUE["wan-latency"].xfail
    assert e.scenario.load.mix == CATALOGUE["wan-latency"].scenario.load.mix
    assert entry("wan-latency@200.0/600.0").name == "wan-latency@200/600"  # the canonical spec names it


def test_a_file_is_its_own_scenario_even_when_it_records_an_entry(tmp_path) -> None:
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(entry("dc2-down").scenario.to_dict()))
    e = entry(str(path))
    assert e.name == "dc2-down" and e.scenario.entry is None
    assert all(x.availability == {} and x.detection_s is None for x in e.expect.values())


def test_simulate_and_chaos_run_name_the_same_scenario(tmp_path) -> None:
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["simulate", "--scenario", "dc2-down", "--out", str(out)])
    assert r.exit_code == 0, r.output
    ran = rundir.load(out).scenario
    assert (ran.load, ran.faults) == (CATALOGUE["dc2-down"].scenario.load, CATALOGUE["dc2-down"].scenario.faults)
    assert ran.entry == EntryRef("dc2-down")


def test_verdicts_come_from_the_record_not_the_name(tmp_path) -> None:
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["simulate", "--scenario", "dc2-down@20/30", "--out", str(out)])
    assert r.exit_code == 0, r.output
    recorded = json.loads((out / "scenario.json").read_text())
    assert recorded["name"] == "dc2-down@20/30" and recorded["entry"] == {"name": "dc2-down", "rps": 20.0, "duration_s": 30.0}
    v = verdicts.of(rundir.load(out))
    assert v.source.startswith("checked now against the catalogue's expectations for dc2-down on seed")
    assert {i["name"] for i in v.items} >= {"availability", "detection"}
    # The same history under an entry's name but without the record (a file, or a run before
    # records): not judged as the entry.
    del recorded["entry"]
    recorded["name"] = "dc2-down"
    (out / "scenario.json").write_text(json.dumps(recorded))
    v = verdicts.of(rundir.load(out))
    assert v.valid is None and v.items == [] and v.source.startswith("none")


def test_the_commands_refuse_what_resolves_to_nothing() -> None:
    r = CliRunner().invoke(main, ["simulate", "--scenario", "dc2-down@200/soon"])
    assert r.exit_code != 0 and "NAME@RPS or NAME@RPS/DURATION" in r.output and "--scenario" in r.output
    r = CliRunner().invoke(main, ["simulate", "--scenario", "partition"])
    assert r.exit_code != 0 and "unknown scenario 'partition'" in r.output and "wan-partition" in r.output
