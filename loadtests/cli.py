"""`halab load`: Locust against the running lab, open model by default, with a scenario's
faults through the nemesis in the same run and one history for the checkers."""

from __future__ import annotations

import time

import click

from loadtests.shapes import SHAPES
from scenarios.catalogue import SPEC_HELP


@click.command()
@click.option("--rate", type=float, help="Open model: peak arrivals per second [10, or the scenario's].")
@click.option("--users", type=int, help="Locust's CLOSED model instead: this many users with think times "
              "(a slow system gets less load from it; an outage shows as fewer requests).")
@click.option("--duration", type=float, help="Seconds of load [60, or the scenario's; its fault times scale].")
@click.option("--shape", type=click.Choice(sorted(SHAPES)), help="Rate over the run [steady].")
@click.option("--scenario", "scenario_name", help=SPEC_HELP + " Its stages, mix and faults (the nemesis runs them).")
@click.option("--workers", type=click.IntRange(1, 64),
              help="Locust worker processes (its distributed mode: a master and K workers), histories merged "
                   "[none: one Locust process].")
@click.option("--max-in-flight", type=int, help="Open model: requests in flight at most [peak rate x request "
              "timeout]; an arrival finding them busy is a failed `dropped` op at its intended time.")
@click.option("--think", default="1,3", show_default=True, help="Closed model: think time MIN,MAX seconds.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the arrivals, users and questions.")
@click.option("--ui", is_flag=True, help="Serve Locust's web UI on 127.0.0.1:8089 while the run goes (it starts at "
              "once, and the UI stays a minute after it ends).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Run directory [reports/out/load-<name>-<UTC time>].")
@click.option("--no-predict", is_flag=True, help="Skip the SimPy prediction written beside the measurement.")
def load(rate, users, duration, shape, scenario_name, workers, max_in_flight, think, seed, ui, out_dir, no_predict):
    """Put Locust's load on the running lab (`halab up` first) through the VIP.

    Open model by default: arrivals follow the plan (`--rate` and `--shape`, or the
    scenario's stages) whatever the answers do, the same arrivals `halab measure` and the
    model use. Writes a run directory: Locust's summary, CSV and HTML, the history
    (requests, nemesis and system events), the checkers' summary and the model's prediction.

    \b
    Examples:
      halab load --rate 20 --duration 120 --shape spike
      halab load --scenario dc2-down --rate 20 --duration 120
      halab load --users 10 --duration 30          # closed model
      halab load --rate 50 --workers 2              # two Locust worker processes
    """
    from functools import partial
    from pathlib import Path

    from rich.console import Console

    from chaos.cli.attach import check_targets, running_lab
    from chaos.cli.flows import print_flows
    from chaos.run import run
    from harness.scenario import path_part
    from loadtests.run import LoadError, Progress, locust_load

    sc = _scenario(rate, users, duration, shape, scenario_name, think)
    lab = running_lab()
    check_targets(lab, sc)
    console = Console()
    out = Path(out_dir or f"reports/out/load-{path_part(sc.name)}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    faults = ", ".join(f"{f.kind} {f.target} {f.start_s:g}-{f.stop_s if f.stop_s is not None else 'end'} s"
                       for f in sc.faults) or "none"
    model = f"CLOSED model, {users} users" if users else f"open model, peak {max(s.rps for s in sc.load.stages):g}/s"
    console.print(f"load [bold]{sc.name}[/] on run {lab.run_id} ({lab.state.preset}) through {lab.state.vip_url}: "
                  f"{model}, {sc.load.duration_s:.0f} s, {workers or 'no'} Locust worker(s); faults: {faults}")
    if ui:
        console.print("Locust's web UI: http://127.0.0.1:8089 (the run starts at once; the UI stays a minute after it ends)")

    def shown(p: Progress) -> None:
        console.print(f"[{p.elapsed_s:6.0f} s / {p.duration_s:.0f} s] {p.requests:,} requests, {p.failures:,} failed "
                      f"({p.dropped:,} dropped), {p.rps:.1f}/s", highlight=False)

    driver = partial(locust_load, out=out, generators=workers, users=users, ui=ui, on_progress=shown,
                     think=think)
    try:
        result = run(lab, sc, seed=seed, workers=max_in_flight, out=out, load=driver,
                     predict=not no_predict and not users)
    except LoadError as exc:
        raise click.ClickException(str(exc)) from None
    print_flows(console, result.history)
    d = result.driver
    for e in result.errors:
        console.print(f"[red]nemesis: {e}[/]")
    if d.get("dropped"):
        console.print(f"[yellow]{d['dropped']} arrivals found {d.get('workers', '?')} requests in flight and were "
                      f"recorded as dropped at their intended times[/]")
    if users:
        console.print("[yellow]closed model: the request rate followed the answers; failures during an outage are "
                      "undercounted (--rate measures with open arrivals)[/]")
    console.print(f"run directory: {out} (Locust's report: {out / 'locust.html'})")


def _scenario(rate, users, duration, shape, scenario_name, think):
    """The run the options describe, or a usage error naming what does not fit."""
    from harness.scenario import Scenario, ScenarioError
    from loadtests import shapes
    from loadtests.options import _think
    from scenarios.catalogue import entry

    if rate is not None and users is not None:
        raise click.UsageError("--rate is the open model's and --users the closed model's: give one")
    if shape and scenario_name:
        raise click.UsageError(f"a scenario brings its own stages: --shape {shape} does not apply to it")
    if (rate is not None and rate <= 0) or (duration is not None and duration <= 0) or (users is not None and users < 1):
        raise click.UsageError("--rate and --duration must be > 0, --users >= 1")
    try:
        _think(think)
        if scenario_name:
            sc = entry(scenario_name).scenario
            if rate is not None or duration is not None:
                sc = sc.with_load(rate, duration)
        else:
            sc = Scenario(f"locust-{shape or 'steady'}", shapes.shape(shape or "steady", rate or 10.0, duration or 60.0))
    except ScenarioError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario" if scenario_name else "--shape") from None
    late = [f for f in sc.faults if f.start_s >= sc.load.duration_s or (f.stop_s or 0) > sc.load.duration_s]
    if late:
        raise click.BadParameter(f"the load ({sc.load.duration_s:g} s) ends before the fault schedule: "
                                 + ", ".join(f"{f.kind} {f.start_s:g}-{f.stop_s} s" for f in late), param_hint="--duration")
    return sc
