"""`halab demo` end to end, as a user runs it: its own lab up, DC2 down under Locust's load with
the prediction, the report, everything removed; and Ctrl-C in the middle of the fault leaves
nothing running either."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _start(out: Path, state_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, HALAB_TOPOLOGY_STATE_FILE=str(state_dir / "topology.json"))
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "demo", "--out", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _left(docker_client, run_id: str) -> list[str]:
    f = {"label": f"halab={run_id}"}
    return [c.name for c in docker_client.containers.list(all=True, filters=f)] + \
        [n.name for n in docker_client.networks.list(filters=f)]


@pytest.fixture
def alone(labs, docker_client, images_built):
    """The session's shared lab is taken down first: the demo starts its own, and two labs on
    two cores would each measure the other's load."""
    labs.close()
    started: list[str] = []
    yield started
    from harness.labels import remove_labelled

    for run_id in started:  # only if the demo itself failed to clean up; the test then fails too
        remove_labelled(docker_client, run_id)


def _run_id(line: str, started: list[str]) -> None:
    if m := re.search(r"\(run (demo-[\w-]+)\)", line):
        started.append(m.group(1))


def test_demo_tells_the_whole_story_and_leaves_nothing(alone, docker_client, tmp_path):
    out = tmp_path / "demo"
    proc = _start(out, tmp_path)
    lines = []
    for line in proc.stdout:
        print(line, end="")
        lines.append(line)
        _run_id(line, alone)
    assert proc.wait(timeout=900) == 0, "".join(lines[-30:])
    assert alone, "the demo names its run"
    assert _left(docker_client, alone[0]) == []
    report = Path(re.search(r"^report: (.+)$", "".join(lines), re.M).group(1))
    assert report == out / "report.html" and report.is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["load"] == "locust" and summary["requests"] > 100
    assert summary["scenario"] == "dc2-down" and summary["topology"] == "seed"
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert verdicts["valid"] is True, verdicts
    assert (out / "prediction" / "history.jsonl").is_file()
    page = report.read_text()
    assert "predicted" in page
    shaded = re.search(r'data-fault-windows="([\d.]+)-([\d.]+)"', page)
    assert shaded and abs(float(shaded.group(1)) - 10) < 1 and abs(float(shaded.group(2)) - 35) < 2, shaded
    for step in ("1/4 images", "2/4 bringing up seed", "3/4 dc2-down under Locust", "tearing down", "4/4 report"):
        assert any(step in line for line in lines), step


def test_ctrl_c_during_the_fault_tears_everything_down(alone, docker_client, tmp_path):
    proc = _start(tmp_path / "demo", tmp_path)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        _run_id(line, alone)
        if "[  15 s" in line:  # DC2 has been down 5 s: containers killed, WAN listeners dropping
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)  # a second Ctrl-C must not cut the teardown short
    assert proc.wait(timeout=300) == 130, "".join(lines[-30:])
    text = "".join(lines)
    assert "SIGINT: stopping" in text and "still tearing down" in text and "nothing left running" in text
    assert alone and _left(docker_client, alone[0]) == []
    assert not (tmp_path / "topology.json").exists()
