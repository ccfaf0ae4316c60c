"""`halab fidelity`: catalogue scenarios measured N times on the running lab, each predicted by
the model calibrated from a baseline; the error per metric (chaos/fidelity.py does the runs)."""

from __future__ import annotations

import time

import click

from chaos.cli.attach import running_lab


@click.command()
@click.option("--preset", "preset_name", help="The preset the running lab must be [whatever `halab up` started].")
@click.option("--scenarios", "names", default="dc2-down", show_default=True,
              help="Catalogue scenarios, comma-separated (`halab chaos list`); NAME@RPS runs one at a "
                   "constant rate, e.g. baseline@3,baseline@12, and NAME@RPS/DURATION for DURATION seconds "
                   "(fault times scaled).")
@click.option("--runs", type=click.IntRange(1, 50), default=3, show_default=True, help="Measured runs per scenario.")
@click.option("--seed", type=int, default=0, show_default=True, help="Run i uses seed + i, measured and predicted alike.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Run directory [reports/out/fidelity-<preset>-<UTC time>].")
def fidelity(preset_name, names, runs, seed, out_dir):
    """How far the SimPy model is from the lab. On the running lab: a baseline calibrates the
    model; each scenario then runs RUNS times through the nemesis, each run predicted by the
    calibrated model with the same scenario and seed. Prints, per metric, the measured median
    and spread, the predicted median, the error, and whether it is within 10 % (or an
    absolute floor near zero); writes fidelity.json and fidelity.md. About a minute a run."""
    import sys
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from chaos import fidelity as fid
    from scenarios import fidelity as score

    lab = running_lab()
    if preset_name and preset_name != lab.state.preset:
        raise click.UsageError(f"the running lab is {lab.state.preset}: `halab down && halab up --preset {preset_name}` first")
    console = Console(width=None if sys.stdout.isatty() else 160)  # a piped log gets whole rows
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(out_dir or f"reports/out/fidelity-{lab.state.preset.replace('+', '-')}-{stamp}")
    scenarios = [n.strip() for n in names.split(",") if n.strip()]
    try:
        result = fid.measure(lab, scenarios, runs, out, seed=seed, say=console.print)
    except KeyError as exc:
        raise click.BadParameter(exc.args[0], param_hint="--scenarios") from None
    for name, rows in result.tables.items():
        table = Table(title=f"{name} on {lab.state.preset}: {runs} run(s), model calibrated from the baseline")
        for col in score.HEADER:
            table.add_column(col, justify="left" if col == "metric" else "right")
        for r in rows:
            c = score.cells(r)
            table.add_row(*c[:-1], {"yes": "[green]yes[/]", "NO": "[red]NO[/]"}.get(c[-1], c[-1]))
        console.print(table)
        if name in result.invalid:
            console.print(f"[yellow]{name}: a checker's verdict was false in {', '.join(result.invalid[name])}[/]")
    console.print(f"fidelity: {out / 'fidelity.md'} (and fidelity.json, params.json, every run)")
