"""The running lab for a command, and a scenario's fault targets checked against it: what every
command that acts on the lab starts with, the load's included."""

from __future__ import annotations

import click

from harness.scenario import Scenario
from harness.topology.lab import Lab


def running_lab() -> Lab:
    """The lab `halab up` started, or a usage error saying how to start one."""
    from harness.topology import attach
    from harness.topology.realise import StartupError

    try:
        return attach()
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None


def check_targets(lab: Lab, scenario: Scenario, hint: str = "--scenario") -> None:
    """Every fault's target exists in the running lab's preset, or a usage error naming the valid ones."""
    from harness.faults import TargetError, resolve

    for f in scenario.faults:
        try:
            resolve(lab.plan.topology, f.kind, f.target)
        except TargetError as exc:
            raise click.BadParameter(str(exc), param_hint=hint) from None
