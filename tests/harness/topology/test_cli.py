"""The CLI without a running topology."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from harness.topology.cli import status, up


def test_status_without_a_topology_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HALAB_TOPOLOGY_STATE_FILE", str(tmp_path / "none.json"))
    result = CliRunner().invoke(status, [])
    assert result.exit_code != 0 and "no topology is running" in result.output


def test_up_offers_the_presets_and_sources() -> None:
    result = CliRunner().invoke(up, ["--help"])
    assert "seed+witness" in result.output and "offline" in result.output and "official" in result.output


@pytest.mark.docker
def test_up_that_cannot_start_says_why_in_one_line(docker_client, tmp_path, monkeypatch) -> None:
    import harness.topology.realise as realise
    from harness.images import ImageNotBuilt

    def missing(*_a, **_k):
        raise ImageNotBuilt("image halab/python:0123 for cms is not built: run `halab images build cms`")

    monkeypatch.setenv("HALAB_TOPOLOGY_STATE_FILE", str(tmp_path / "none.json"))
    monkeypatch.setattr(realise, "up", missing)
    result = CliRunner().invoke(up, ["--preset", "seed"])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit
    assert "Error: image halab/python:0123 for cms is not built: run `halab images build cms`" in result.output
