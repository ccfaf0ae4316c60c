"""Run directories made by the model (no Docker): a DC2 site-down run with a prediction of it
beside it under another seed, and a baseline; the same seeds give the same histories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main


def halab(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def simulate(out: Path, scenario: str, seed: int, rps: float = 20, duration: float = 60) -> Path:
    halab("simulate", "--scenario", scenario, "--rps", str(rps), "--duration", str(duration), "--seed", str(seed),
          "--out", str(out))
    return out


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs")
    dc2 = simulate(folder / "dc2-down", "dc2-down", seed=0)
    simulate(dc2 / "prediction", "dc2-down", seed=1)
    simulate(folder / "baseline", "baseline", seed=0, duration=30)
    (folder / "not-a-run").mkdir()
    (folder / "not-a-run" / "notes.txt").write_text("no history here")
    return folder


@pytest.fixture(scope="session")
def summary():
    """The summary.json a producer wrote: what the report's figures must equal."""
    return lambda run: json.loads((Path(run) / "summary.json").read_text())
