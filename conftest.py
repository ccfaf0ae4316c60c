"""Shared setup of tests/ and the scenario catalogue in scenarios/: deterministic hypothesis,
no Ryuk (it cannot be pulled here: we clean up by label ourselves), and the running labs.

`seed_lab` and `witness_lab` start `halab up --preset seed` / `seed+witness` once per session
(labelled with this session's run id, each with its own state file in a temp dir, so a lab
started by hand is left alone) and remove it at the end, even when a test or the start-up
fails. Images are brought up to date first (`halab images build` is quick when nothing
changed). The catalogue reuses them: each scenario heals and checks the lab healthy first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Same examples on every run: a property test that fails in CI fails the same way here.
settings.register_profile("halab", derandomize=True)
settings.load_profile("halab")

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
# etcd3 0.12 ships protobuf code that protobuf>=4 only loads in pure-Python mode.
os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")

TEST_RUN_ID = f"pytest-{os.getpid()}"


@pytest.fixture(scope="session")
def docker_client():
    """The Docker engine, or a skip naming why there is none."""
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure here means "no engine"
        pytest.skip(f"no Docker engine answers ({exc}); run `halab doctor`")
    yield client
    from harness.labels import remove_labelled

    remove_labelled(client, TEST_RUN_ID)


@pytest.fixture(scope="session")
def run_id() -> str:
    """The label value every container a test starts must carry (see harness.labels)."""
    return TEST_RUN_ID


ROOT = Path(__file__).resolve().parent


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


@pytest.fixture(scope="session")
def witness_lab(docker_client, tmp_path_factory):
    with lab_of("seed+witness", docker_client, tmp_path_factory.mktemp("witness-lab")) as lab:
        yield lab
