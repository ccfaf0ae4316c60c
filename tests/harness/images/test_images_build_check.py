"""Integration: build every default image offline, then `images check` every component."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.images.catalog import COMPONENTS

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_build_offline_then_check_every_component(docker_client):
    build = CliRunner().invoke(main, ["images", "build", "--source", "offline"])
    assert build.exit_code == 0, build.output
    # a second build right after rebuilds nothing
    again = CliRunner().invoke(main, ["images", "build", "--source", "offline"])
    assert again.exit_code == 0, again.output
    assert ", 0 built," in again.output

    check = CliRunner().invoke(main, ["images", "check"])
    lines = {line.split()[1]: line for line in check.output.splitlines() if line.startswith(("ok ", "FAIL"))}
    assert set(lines) == set(COMPONENTS), check.output
    failed = [line for line in lines.values() if line.startswith("FAIL")]
    assert not failed, "\n".join(failed)
    assert check.exit_code == 0
    leftovers = [
        c.name
        for c in docker_client.containers.list(all=True, filters={"label": "halab"})
        if c.labels["halab"].startswith("images-check")
    ]
    assert leftovers == []


def test_list_shows_every_component(docker_client):
    result = CliRunner().invoke(main, ["images", "list"])
    assert result.exit_code == 0, result.output
    for name in COMPONENTS:
        assert any(line.startswith(name + " ") for line in result.output.splitlines()), name
    assert "shares python with" in result.output
