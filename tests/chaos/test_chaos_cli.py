"""The nemesis's commands as harness/cli.py assembles them (chaos/cli/, and `chaos run` from
loadtests/chaos_run.py), without a lab: every one loads, and fails before Docker when it must."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from harness.cli import COMMANDS, SUBCOMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_loads_from_this_checkout(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert "unavailable" not in (command.help or ""), command.help
    for sub in SUBCOMMANDS.get(name, {}):
        assert "unavailable" not in (command.commands[sub].help or "")


def test_chaos_run_is_in_the_chaos_group() -> None:
    r = CliRunner().invoke(main, ["chaos", "--help"])
    assert r.exit_code == 0, r.output
    assert "list  Every catalogue scenario" in r.output and "run   Run one catalogue scenario" in r.output


def test_without_a_lab_the_commands_say_how_to_start_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HALAB_TOPOLOGY_STATE_FILE", str(tmp_path / "none.json"))
    for args in (["faults"], ["heal"], ["fault", "site-down", "dc2"], ["chaos", "run", "baseline"],
                 ["measure"], ["fidelity"], ["explore", "--replay", "1"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 1 and "no topology is running" in r.output, (args, r.output)


def test_an_unknown_scenario_is_a_usage_error_before_the_lab() -> None:
    r = CliRunner().invoke(main, ["chaos", "run", "no-such-scenario"])
    assert r.exit_code == 2 and "Invalid value for NAME: unknown scenario 'no-such-scenario'" in r.output, r.output
