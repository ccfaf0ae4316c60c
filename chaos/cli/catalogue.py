"""The `halab chaos` group and `halab chaos list`. The group's `run` puts Locust's load under
the nemesis, a layer above this one: it lives in loadtests/chaos_run.py and harness/cli.py
adds it to this group."""

from __future__ import annotations

import click


@click.group()
def chaos() -> None:
    """The chaos catalogue (scenarios/catalogue): list it, run a scenario on the running lab."""


@chaos.command("list")
def chaos_list() -> None:
    """Every catalogue scenario, the presets it runs on, and what it shows."""
    from scenarios.catalogue import CATALOGUE

    for e in CATALOGUE.values():
        faults = "; ".join(f"{f.kind} {f.target}".strip() for f in e.scenario.faults) or "no fault"
        click.echo(f"{e.name:<18} {','.join(e.presets):<18} {faults}")
        click.echo(f"{'':<18} {e.summary}")
