"""`halab explore --replay 1` on the seed lab: the model's worst schedule for the longest
unavailability (etcd's majority lost: policy updates stop) runs on containers through the
nemesis, healed and healthy first, and the lab confirms that it hurts."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli import main

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_replay_of_the_worst_schedule_on_the_lab(seed_lab, tmp_path, monkeypatch):
    monkeypatch.setenv("HALAB_TOPOLOGY_STATE_FILE", str(seed_lab.state_file))
    out = tmp_path / "ex"
    r = CliRunner().invoke(main, ["explore", "--preset", "seed", "--objective", "unavailability", "--budget", "60",
                                  "--seed", "3", "--top", "1", "--replay", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    worst = json.loads((out / "explore.json").read_text())["worst"][0]
    assert worst["score"] >= 20, worst  # the model: updates stop for most of the run
    run = out / "replay-1"
    assert (run / "history.jsonl").exists() and json.loads((run / "verdicts.json").read_text())["preset"] == "seed"
    # The lab confirms the schedule hurts: most of the model's unavailability is measured.
    assert worst["measured"] >= 0.5 * worst["score"], worst
    assert isinstance(worst["agrees"], bool) and worst["invariants_held"] in (True, False, None), worst
    assert "measured" in r.output and "agrees" in r.output
