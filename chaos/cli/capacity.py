"""`halab capacity-measure`: the measured counterpart of `halab capacity` (chaos/capacity_sweep.py)."""

from __future__ import annotations

import sys
import time

import click

from chaos.cli.attach import running_lab
from harness.scenario import FLOWS


@click.command()
@click.option("--rps", "rps_range", default="5..80", show_default=True,
              help="The ladder of rates: A..B (--points values, geometric) or a,b,c.")
@click.option("--points", default=5, show_default=True, help="Rates on the ladder within A..B.")
@click.option("--slo-p95", "slo", default="1s", show_default=True, help="p95 objective, e.g. 1s or 800ms.")
@click.option("--flow", default="rag_query", show_default=True, type=click.Choice(FLOWS))
@click.option("--duration", default=30.0, show_default=True, help="Seconds of load per step.")
@click.option("--tolerance", default=0.05, show_default=True,
              help="Bisect until the first miss is within this fraction above the last pass.")
@click.option("--cooldown", default=10.0, show_default=True,
              help="Seconds to wait after the lab is healthy again, before each step (queues drain).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the arrivals, users and questions.")
@click.option("--workers", type=int, help="Requests in flight at most [peak rate x request timeout]; an arrival "
              "finding them all busy is a dropped arrival, which misses the SLO.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Sweep directory to write [reports/out/capacity-measured-<preset>-<UTC time>].")
def capacity_measure(rps_range, points, slo, flow, duration, tolerance, cooldown, seed, workers, out_dir):
    """Measure the running lab's capacity (`halab up` first): the issue's `halab capacity --measure`.

    Constant-rate steps of the catalogue's `baseline` through the VIP, open-loop (harness/clients/measure.py),
    up the --rps ladder until the first step that misses the SLO, then bisection between the last
    pass and that miss until they are within --tolerance. The SLO is `halab capacity`'s
    (p95 of --flow <= --slo-p95, availability >= 99.9 %) and no dropped arrival. Late starts (the
    generator behind its own schedule, as on a host whose cores the lab shares) are recorded per
    step, not judged. Before each step the lab must be healthy again, then quiet for --cooldown seconds.

    Writes capacity.json in `halab capacity --out`'s shape, marked "source": "measured" with the
    lab's run id and preset: `halab report --capacity MODEL_DIR --capacity MEASURED_DIR` draws both
    and the ratio of their highest rates under the SLO.

    A command of its own, not an option of `halab capacity`: that one is the model's (simulation/),
    which must not import the measuring client (it imports Docker), and a command cannot gain an
    option from a layer above it without the CLI loading code from that layer for every model sweep.
    """
    from pathlib import Path

    from rich.console import Console

    from chaos import capacity_sweep as cs
    from harness.scenario import ScenarioError
    from scenarios.catalogue import entry
    from simulation.capacity import parse_duration, parse_range

    console = Console(width=None if sys.stdout.isatty() else 160)  # a step's line unwrapped in logs
    try:
        rates = parse_range(rps_range, points, geometric=True)
        slo_s = parse_duration(slo)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if not 0 < tolerance < 1:
        raise click.BadParameter("a fraction between 0 and 1, e.g. 0.05", param_hint="--tolerance")
    try:
        base = entry("baseline").scenario
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from None
    lab = running_lab()
    out = Path(out_dir or f"reports/out/capacity-measured-{lab.state.preset}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    s = cs.Slo(slo_s, flow)
    console.print(f"measuring capacity on run {lab.run_id} ({lab.state.preset}) through {lab.state.vip_url}: ladder "
                  f"{', '.join(f'{r:g}' for r in rates)} rps, {duration:g} s per step; SLO p95({flow}) <= "
                  f"{slo_s * 1000:.0f} ms, availability >= 99.9 %, no dropped arrival")

    def on_step(step: cs.Step) -> None:
        verdict = "[green]meets the SLO[/]" if step.meets_slo else f"[red]misses[/] ({step.why})"
        lag = f" (max lag {step.max_start_lag_s:.2f} s)" if step.late_starts else ""
        console.print(f"{step.phase:>6} {step.rps:8.2f} rps: p95 {flow} {step.p95.get(flow, float('inf')) * 1000:,.0f} ms, "
                      f"availability {step.availability.get(flow, 0.0):.4f}, {step.dropped} dropped, "
                      f"{step.late_starts} late starts{lag}: {verdict}")

    def on_start(rps: float, phase: str) -> None:
        console.print(f"[dim]{phase:>6} {rps:8.2f} rps: the lab is healthy and quiet; measuring {duration:g} s ...[/]")

    result = cs.sweep(lab, base, rates, s, duration_s=duration, seed=seed, tolerance=tolerance, workers=workers,
                      settle=cs.quiet(cooldown), on_start=on_start, on_step=on_step)
    path = cs.write(out, result, lab, s, duration_s=duration, seed=seed, scenario=base.name)
    if result.bracketed:
        console.print(f"highest rate meeting the SLO: [bold]{result.best:g} rps[/] (missed at {result.first_miss:g} rps)")
    elif result.best is None:
        console.print(f"[yellow]no rate met the SLO:[/] the lowest, {result.first_miss:g} rps, missed; lower --rps")
    else:
        console.print(f"[yellow]every rate met the SLO[/] up to {result.best:g} rps: raise --rps to find the knee")
    if any(st.late_starts for st in result.steps):
        console.print("[yellow]late starts:[/] the load generator fell behind its arrivals on some steps; on a shared "
                      "host it competes with the lab for cores")
    console.print(f"sweep directory: {path.parent} (`halab report --capacity {path.parent}`, "
                  f"beside a model sweep: `--capacity MODEL_DIR --capacity {path.parent}`)")
