"""`halab measure`: drive a fault-free scenario against the running lab, write a run directory."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from harness import scenario as scenarios
from harness.history import completions

console = Console()


def _ms(x: float) -> str:
    return f"{x * 1000:.1f}"


@click.command()
@click.option("--scenario", "scenario_name", default="baseline", show_default=True,
              help="A scenario without faults: a preset (baseline) or a .json/.toml file.")
@click.option("--rps", type=float, help="Constant request rate (replaces the scenario's load).")
@click.option("--duration", type=float, help="Seconds of load.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the arrivals, users and questions.")
@click.option("--workers", type=int, default=32, show_default=True,
              help="Client threads; starts later than their arrival are reported (the clients were the queue).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Run directory to write [runs/measure-<scenario>-<UTC time>].")
def measure(scenario_name, rps, duration, seed, workers, out_dir):
    """Measure a scenario on the running lab (`halab up` first) into a run directory shaped like
    `halab simulate --out`'s; `halab calibrate DIR` then fits the model's service times from it.
    Use a low rate for calibration: queueing time is attributed to service."""
    from harness.clients import measure as m
    from harness.topology import attach
    from harness.topology.realise import StartupError

    try:
        sc = scenarios.resolve(scenario_name)
        if rps is not None or duration is not None:
            sc = sc.with_load(rps, duration)
        m.check(sc)
    except (scenarios.ScenarioError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario") from None
    try:
        lab = attach()
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    out = Path(out_dir or f"runs/measure-{sc.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")

    def tick(elapsed: float, history) -> None:
        done = completions(history)
        ok = sum(op.type == "ok" for op in done)
        console.print(f"[{elapsed:6.0f} s / {sc.load.duration_s:.0f} s] {len(done):,} done, {ok:,} ok, "
                      f"{len(done) - ok:,} not ok")

    console.print(f"measuring [bold]{sc.name}[/] on run {lab.run_id} ({lab.state.preset}) through {lab.state.vip_url}: "
                  f"{sc.load.duration_s:.0f} s")
    try:
        history, driver = m.measure(lab, sc, seed=seed, workers=workers, on_tick=tick)
    finally:
        lab.wan.close()
    m.write(out, lab, sc, history, driver)
    _table(history)
    if driver["late_starts"]:
        console.print(f"[yellow]{driver['late_starts']} starts came later than their arrival by more than 50 ms "
                      f"(max {driver['max_start_lag_s']:.2f} s): raise --workers or lower the rate[/]")
    console.print(f"run directory: {out}   next: halab calibrate {out}")


def _table(history) -> None:
    from scenarios import checkers

    table = Table(title="measured flows (latency in ms, over ok operations)")
    for col in ("flow", "ok", "fail", "info", "avail", "p50", "p95", "p99", "max"):
        table.add_column(col, justify="left" if col == "flow" else "right")
    lat = checkers.latency(history)
    for f, a in checkers.availability(history).items():
        la = lat.get(f)
        table.add_row(f, f"{a.ok:,}", f"{a.fail:,}", f"{a.info:,}", f"{a.availability:.4f}",
                      *(_ms(getattr(la, k)) if la else "-" for k in ("p50", "p95", "p99", "max")))
    console.print(table)
