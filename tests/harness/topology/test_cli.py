"""The CLI without a running topology."""

from __future__ import annotations

from click.testing import CliRunner

from harness.topology.cli import status, up


def test_status_without_a_topology_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HALAB_TOPOLOGY_STATE_FILE", str(tmp_path / "none.json"))
    result = CliRunner().invoke(status, [])
    assert result.exit_code != 0 and "no topology is running" in result.output


def test_up_offers_the_presets_and_sources() -> None:
    result = CliRunner().invoke(up, ["--help"])
    assert "seed+witness" in result.output and "offline" in result.output and "official" in result.output
