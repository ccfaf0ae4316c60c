"""`halab explore --replay 1` on the seed lab: the worst schedule the model found runs on the
containers through the nemesis and is scored with the same objective, beside the model's."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli import main

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_the_worst_schedule_replays_on_the_lab(seed_lab, tmp_path, monkeypatch):
    monkeypatch.setenv("HALAB_TOPOLOGY_STATE_FILE", str(seed_lab.state_file))
    out = tmp_path / "ex"
    r = CliRunner().invoke(main, ["explore", "--budget", "30", "--top", "1", "--seed", "2", "--objective", "unavailability",
                                  "--replay", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    (worst,) = json.loads((out / "explore.json").read_text())["worst"]
    assert isinstance(worst["measured"], float) and isinstance(worst["agrees"], bool)
    assert (out / "replay-1" / "history.jsonl").is_file() and (out / "replay-1" / "prediction").is_dir()
    faults = json.loads((out / "replay-1" / "scenario.json").read_text())["faults"]
    assert faults == json.loads((out / "schedule-1.json").read_text())["faults"]
    print(f"\nmodel {worst['score']} vs measured {worst['measured']} for {worst['faults']}")
