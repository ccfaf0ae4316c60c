"""Shared test setup: Ryuk cannot be pulled here, so we clean up by label ourselves."""

from __future__ import annotations

import os

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
