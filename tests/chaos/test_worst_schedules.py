"""What `halab explore` keeps of a search (chaos/worst_schedules.py), without the model's runs:
shrink and the other preset's score are stubbed, so what is kept, written and replayed is the
module's own logic."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import chaos.replay
from chaos import worst_schedules as worst
from harness.scenario import Fault
from harness.spec import preset
from simulation import explore as ex


@pytest.fixture
def result(monkeypatch) -> ex.Exploration:
    monkeypatch.setattr(ex, "shrink", lambda topo, objective, found: found)
    monkeypatch.setattr(ex, "evaluate", lambda topo, objective, faults: 5.0 if topo.name == "seed+witness" else None)
    etcd = ex.Found((Fault("component-down", "etcd1", 10.0, 40.0),), 30.0)
    etcd_later = ex.Found((Fault("component-down", "etcd1", 20.0, 50.0),), 25.0)  # the same shape
    cms = ex.Found((Fault("component-down", "cms2", 5.0, 6.0), Fault("partition", "dc1,dc2", 1.0, 9.0)), 10.0)
    harmless = ex.Found((Fault("component-down", "cms1", 5.0, 6.0),), 0.0)
    return ex.Exploration("seed", "unavailability", 4, 2.0, [etcd, etcd_later, cms, harmless])


def test_keeps_one_schedule_per_shape_that_hurts_and_writes_each(result, tmp_path) -> None:
    kept = worst.keep_worst(result, preset("seed"), 5, tmp_path)
    assert [(k["rank"], k["score"], k["seed+witness"]) for k in kept] == [(1, 30.0, 5.0), (2, 10.0, 5.0)]
    assert [k["file"] for k in kept] == [str(tmp_path / "schedule-1.json"), str(tmp_path / "schedule-2.json")]
    written = json.loads((tmp_path / "schedule-2.json").read_text())
    assert written["name"] == "explored-unavailability-2"
    assert [(f["kind"], f["start_s"]) for f in written["faults"]] == [("partition", 1.0), ("component-down", 5.0)]
    assert len(worst.keep_worst(result, preset("seed"), 1, tmp_path / "top1")) == 1


def test_replays_the_first_n_on_the_lab_and_summarises(result, tmp_path, monkeypatch) -> None:
    kept = worst.keep_worst(result, preset("seed"), 5, tmp_path)
    calls, said = [], []

    def replay(lab, found, objective, *, seed, out, on_tick=None):
        calls.append((found["rank"], objective, seed, out))
        return {"measured": 28.0, "agrees": True}

    monkeypatch.setattr(chaos.replay, "replay", replay)
    worst.replay_worst(SimpleNamespace(run_id="lab-1"), kept, 1, "unavailability", seed=3, out=tmp_path, say=said.append)
    assert calls == [(1, "unavailability", 3, tmp_path)]
    assert said == [f"replaying {tmp_path / 'schedule-1.json'} on lab-1 (healed and healthy first) ..."]
    assert (kept[0]["measured"], "measured" in kept[1]) == (28.0, False)

    summary = json.loads(worst.write_summary(tmp_path, result, preset("seed"), kept, budget=4, max_faults=2, seed=3).read_text())
    assert list(summary) == ["preset", "objective", "budget", "max_faults", "seed", "tried", "seconds", "schedules_per_s",
                             "left_out", "run", "worst"]
    assert (summary["preset"], summary["tried"], summary["schedules_per_s"], summary["worst"]) == ("seed", 4, 2.0, kept)


def test_the_other_preset() -> None:
    assert (worst.other_preset("seed"), worst.other_preset("seed+witness")) == ("seed+witness", "seed")
