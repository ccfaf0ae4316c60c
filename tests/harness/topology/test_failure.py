"""A start-up that fails half-way removes everything it started."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_a_failed_start_leaves_nothing(docker_client, images_built, tmp_path, monkeypatch) -> None:
    import harness.topology.realise as realise
    from harness.spec import preset

    def boom(*_a, **_k):
        raise RuntimeError("injected failure during OpenBao set-up")

    monkeypatch.setattr(realise, "_bootstrap_bao", boom)
    run_id = f"pytest-topo-fail-{os.getpid()}"
    state_file = tmp_path / "topology.json"
    with pytest.raises(RuntimeError, match="injected failure"):
        realise.up(preset("seed"), run_id=run_id, state_file=state_file, client=docker_client,
                   kinds=frozenset({"etcd", "vault", "mongo", "lb"}))
    selector = {"label": f"halab={run_id}"}
    assert docker_client.containers.list(all=True, filters=selector) == []
    assert docker_client.networks.list(filters=selector) == []
    assert not state_file.exists()
    assert not list(Path("/tmp").glob(f"halab-secrets-{run_id}-*"))
