"""Shared setup of tests/ and the scenario catalogue in scenarios/: deterministic hypothesis,
no Ryuk (it cannot be pulled here: we clean up by label ourselves), and the running labs.

`seed_lab` and `witness_lab` start `halab up --preset seed` / `seed+witness` once per session
(labelled with this session's run id, each with its own state file in a temp dir, so a lab
started by hand is left alone) and remove it at the end, even when a test or the start-up
fails. Images are brought up to date first (`halab images build` is quick when nothing
changed). The catalogue reuses them: each scenario heals and checks the lab healthy first.
"""

from __future__ import annotations

import itertools
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


_STARTS = itertools.count(1)


def lab_of(preset_name: str, docker_client, state_dir: Path):
    """harness.topology.running: up now, down of this run on exit whatever happened."""
    from harness.spec import preset
    from harness.topology import running

    build_images()
    run_id = f"pytest-topo-{preset_name.replace('+', '-')}-{os.getpid()}-{next(_STARTS)}"
    # Every lab the tests start carries Prometheus (a few seconds more), so the catalogue runs observed.
    return running(preset(preset_name), run_id=run_id, state_file=state_dir / "topology.json", client=docker_client,
                   metrics=True,
                   progress=lambda m: print(f"[{run_id}] {m}", file=sys.stderr))


@pytest.fixture(scope="session")
def images_built() -> None:
    build_images()


class Labs:
    """One lab at a time: asking for another preset removes the one that is up first (two labs
    on two cores would make each scenario measure the other lab's load), and a lab a test took
    down (`test_down_leaves_nothing_labelled`) is started anew when asked for again."""

    def __init__(self, docker_client, tmp_path_factory) -> None:
        self.docker_client, self.tmp = docker_client, tmp_path_factory
        self.current: tuple[str, object, object] | None = None  # (preset, context manager, lab)
        self.leaks: list = []  # harness.topology.leaks.Leak, of every lab closed

    def get(self, preset_name: str):
        if self.current is not None:
            name, _cm, lab = self.current
            if name == preset_name and lab.state_file.exists():
                return lab
            self.close()
        cm = lab_of(preset_name, self.docker_client, self.tmp.mktemp(preset_name.replace("+", "-")))
        self.current = (preset_name, cm, cm.__enter__())
        return self.current[2]

    def close(self) -> None:
        if self.current is not None:
            _name, cm, lab = self.current
            self.current = None
            try:
                if lab.state_file.exists():  # a test may have taken it down already
                    from harness.topology.leaks import leaks

                    self.leaks += leaks(lab.run_id, Path(lab.state.secrets_dir), self.docker_client)
            finally:
                cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def labs(docker_client, tmp_path_factory):
    """After every test that used a lab, the logs of all its containers are searched for the
    secrets the run handed out (harness/topology/leaks.py): a leak fails the session."""
    registry = Labs(docker_client, tmp_path_factory)
    yield registry
    registry.close()
    assert not registry.leaks, "secrets in container logs: " + ", ".join(
        f"{x.container}: {x.what}" for x in registry.leaks)


@pytest.fixture
def seed_lab(labs):
    return labs.get("seed")


@pytest.fixture
def witness_lab(labs):
    return labs.get("seed+witness")
