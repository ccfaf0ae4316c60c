"""A running topology for the tests, started once per session and removed whatever happens.

`seed_lab` starts `halab up --preset seed` (labelled with this session's run id, its own
state file in a temp dir, so a lab started by hand is left alone) and removes it at the end
of the session, even when a test or the start-up fails. Images are brought up to date first
(`halab images build` is quick when nothing changed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def build_images() -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "images", "build"], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"`halab images build` failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")


def lab_of(preset_name: str, docker_client, state_dir: Path):
    """harness.topology.running: up now, down of this run on exit whatever happened."""
    from harness.spec import preset
    from harness.topology import running

    build_images()
    run_id = f"pytest-topo-{preset_name.replace('+', '-')}-{os.getpid()}"
    return running(preset(preset_name), run_id=run_id, state_file=state_dir / "topology.json", client=docker_client,
                   progress=lambda m: print(f"[{run_id}] {m}", file=sys.stderr))


@pytest.fixture(scope="session")
def images_built() -> None:
    build_images()


@pytest.fixture(scope="session")
def seed_lab(docker_client, tmp_path_factory):
    with lab_of("seed", docker_client, tmp_path_factory.mktemp("seed-lab")) as lab:
        yield lab


@pytest.fixture(scope="module")
def witness_lab(docker_client, tmp_path_factory):
    with lab_of("seed+witness", docker_client, tmp_path_factory.mktemp("witness-lab")) as lab:
        yield lab
