"""`halab measure`: a scenario's load and faults on the running lab, measured into a run directory."""

from __future__ import annotations

import time

import click

from chaos.cli.attach import check_targets, running_lab
from scenarios.catalogue import SPEC_HELP


@click.command()
# The default is the 10-minute run at 200/s that `halab measure` has always made.
@click.option("--scenario", "scenario_name", default="baseline@200/600", show_default=True,
              help=SPEC_HELP + " Its faults run in time.")
@click.option("--rps", type=float, help="Constant request rate (replaces the scenario's load).")
@click.option("--duration", type=float, help="Seconds of load; the scenario's fault times scale with it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the arrivals, users and questions.")
@click.option("--workers", type=int, help="Requests in flight at most [peak rate x request timeout]; an arrival "
              "finding them all busy is recorded as a failed `dropped` op, never skipped.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Run directory to write [reports/out/measure-<scenario>-<UTC time>].")
@click.option("--no-predict", is_flag=True, help="Skip the SimPy prediction written beside the measurement.")
def measure(scenario_name, rps, duration, seed, workers, out_dir, no_predict):
    """Measure a scenario on the running lab (`halab up` first): its load through the VIP,
    its faults by the nemesis, system events from the observers; then heal, recovery and
    final reads. Writes a run directory shaped like `halab simulate --out`'s, with the
    model's prediction of the same scenario in prediction/. `halab calibrate DIR` fits the
    model from a fault-free one (use a low rate: queueing is attributed to service)."""
    from pathlib import Path

    from rich.console import Console

    from chaos.cli.flows import print_flows
    from chaos.run import run
    from harness.history import completions
    from harness.scenario import ScenarioError, path_part
    from scenarios.catalogue import entry

    console = Console()
    try:
        sc = entry(scenario_name).scenario
        if rps is not None or duration is not None:
            sc = sc.with_load(rps, duration)
    except ScenarioError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario") from None
    lab = running_lab()
    check_targets(lab, sc)
    out = Path(out_dir or f"reports/out/measure-{path_part(sc.name)}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")

    def tick(elapsed: float, history) -> None:
        done = completions(history)
        ok = sum(op.type == "ok" for op in done)
        dropped = sum(op.error == "dropped" for op in done)
        console.print(f"[{elapsed:6.0f} s / {sc.load.duration_s:.0f} s] {len(done):,} done, {ok:,} ok, "
                      f"{len(done) - ok:,} not ok ({dropped:,} dropped)")

    faults = ", ".join(f"{f.kind} {f.target} {f.start_s:g}-{f.stop_s if f.stop_s is not None else 'end'} s"
                       for f in sc.faults) or "none"
    console.print(f"measuring [bold]{sc.name}[/] on run {lab.run_id} ({lab.state.preset}) through "
                  f"{lab.state.vip_url}: {sc.load.duration_s:.0f} s; faults: {faults}")
    result = run(lab, sc, seed=seed, workers=workers, out=out, on_tick=tick, predict=not no_predict)
    print_flows(console, result.history)
    for e in result.errors:
        console.print(f"[red]nemesis: {e}[/]")
    if result.driver["dropped"]:
        console.print(f"[yellow]{result.driver['dropped']} arrivals found {result.driver['workers']} requests in "
                      f"flight and were recorded as dropped[/]")
    console.print(f"run directory: {out}")
