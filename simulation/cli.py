"""`halab simulate`, `halab capacity`, `halab calibrate`: the model from the command line."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.history import write_jsonl
from harness.scenario import FLOWS, ScenarioError
from harness.spec import PRESETS, SpecError, preset
from scenarios import checkers, run_dir
from scenarios.catalogue import SPEC_HELP, entry
from simulation.params import ModelParams

# Piped output gets a fixed width wide enough for the tables instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 140)


def _ms(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x * 1000:.1f}"


def _params(path: str | None) -> ModelParams | None:
    return ModelParams.load(path) if path else None


def _topology(name: str):
    try:
        topo = preset(name)
    except SpecError as exc:
        raise click.BadParameter(str(exc)) from None
    for w in topo.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    return topo


preset_option = click.option("--preset", "preset_name", default="seed", show_default=True,
                             type=click.Choice(sorted(PRESETS)), help="Topology preset (harness/spec.py).")
params_option = click.option("--params", "params_path", type=click.Path(exists=True, dir_okay=False),
                             help="Parameter file from `halab calibrate` (service times).")


@click.command()
@preset_option
# The default is the 10-minute run at 200/s that `halab simulate` has always made.
@click.option("--scenario", "scenario_name", default="baseline@200/600", show_default=True, help=SPEC_HELP)
@click.option("--rps", type=float, help="Constant request rate (replaces the scenario's load).")
@click.option("--duration", type=float, help="Seconds of load; the scenario's fault times scale with it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same history.")
@params_option
@click.option("--history", "history_path", type=click.Path(dir_okay=False), help="Write the history (JSON lines).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Write a run directory like the harness's: history.jsonl, scenario.json, params.json, summary.json.")
@click.option("--steps", is_flag=True, help="Record step timings in the history (what calibrate reads).")
def simulate(preset_name, scenario_name, rps, duration, seed, params_path, history_path, out_dir, steps):
    """Predict a scenario with the SimPy model: availability, latency, failover, quorum."""
    from simulation.run import simulate as run

    topo = _topology(preset_name)
    try:
        sc = entry(scenario_name).scenario
    except ScenarioError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario") from None
    if rps is not None or duration is not None:
        sc = sc.with_load(rps, duration)
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.fields[t]}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("sim", total=1.0, t="")
        try:
            result = run(topo, sc, _params(params_path), seed, record_steps=steps,
                         progress=lambda now, total: bar.update(task, completed=now / total,
                                                                t=f"{now:,.0f}/{total:,.0f} s"))
        except ScenarioError as exc:  # a fault naming something this topology lacks
            raise click.BadParameter(str(exc), param_hint="--scenario") from None
    # The checkers need completions and events only; the sorted full history only when written.
    _summary(topo, sc, result, list(result.completions()) + result.model.events)
    if history_path:
        n = write_jsonl(result.history(), history_path)
        console.print(f"history: {n:,} ops -> {history_path}")
    if out_dir:
        _write_run(Path(out_dir), topo, sc, result)
        console.print(f"run directory: {out_dir}")


def _write_run(out: Path, topo, sc, result) -> None:
    """The same layout a measured run has, so reports read predictions and measurements alike."""
    run_dir.write(out, source="simulation", topology=topo.name, scenario=sc, history=result.history(), extra={
        "seed": result.model.seed, "requests": result.requests,
        "leaderless_s": {g.kind: g.leaderless_s(sc.load.duration_s + result.model.request_s) for g in result.model.groups},
        "utilisation": result.utilisation(),
    })
    (out / "params.json").write_text(result.model.params.to_json(), encoding="utf-8")


def _summary(topo, sc, result, history) -> None:
    console.print(f"[bold]{topo.name}[/] / [bold]{sc.name}[/]: {sc.load.duration_s:,.0f} s, "
                  f"{result.requests:,} requests, seed {result.model.seed}, params: {result.model.params.source}")
    flows = Table(title="flows (latency in ms, over ok operations)")
    flows.add_column("flow", no_wrap=True)
    for col in ("ok", "fail", "info", "avail", "worst 10 s", "p50", "p95", "p99", "max"):
        flows.add_column(col, justify="right")
    lat = checkers.latency(history)
    windows = checkers.windowed_availability(history, 10.0)
    for f, a in checkers.availability(history).items():
        la = lat.get(f)
        worst = min((w.availability for w in windows.get(f, [])), default=float("nan"))
        flows.add_row(f, f"{a.ok:,}", f"{a.fail:,}", f"{a.info:,}", f"{a.availability:.5f}", f"{worst:.3f}",
                      *(_ms(getattr(la, k)) if la else "-" for k in ("p50", "p95", "p99", "max")))
    console.print(flows)
    errors: dict[str, int] = {}
    for op in history:
        if op.error and not op.is_event:
            errors[op.error] = errors.get(op.error, 0) + 1
    if errors:
        console.print("errors: " + ", ".join(f"{e} {n:,}" for e, n in sorted(errors.items(), key=lambda x: -x[1])))
    master = result.model.vrrp.by_priority[0][1].name if result.model.vrrp.by_priority else None
    fo = checkers.failover(history, lb=master)
    if fo:
        t = Table(title=f"faults (detection by {master}'s HAProxy after start, recovery after stop; s)")
        for col in ("fault", "target", "start", "detection", "recovery"):
            t.add_column(col)
        for x in fo:
            t.add_row(x.fault, x.target, f"{x.start_s:.1f}", "-" if x.detection_s is None else f"{x.detection_s:.2f}",
                      "-" if x.recovery_s is None else f"{x.recovery_s:.2f}")
        console.print(t)
    q = Table(title="Raft groups (writes need a majority)")
    for col in ("group", "voters", "tolerates", "without leader (s)", "elections"):
        q.add_column(col)
    for g in result.model.groups:
        q.add_row(g.kind, str(len(g.members)), str((len(g.members) - 1) // 2),
                  f"{g.leaderless_s(sc.load.duration_s + result.model.request_s):.1f}", str(g.term - 1))
    console.print(q)
    vrrp = [op for op in history if op.process == "vrrp"]
    if vrrp:
        console.print("VRRP: " + "; ".join(f"{op.time:.2f} s {op.f} {op.value['lb']}" for op in vrrp))
    prop = checkers.propagation(history)
    if prop:
        p = Table(title="policy propagation (acknowledged -> OPA loaded, ms)")
        for col in ("site", "loads", "p50", "p95", "max", "never loaded"):
            p.add_column(col)
        for site, x in prop.items():
            p.add_row(site, f"{x.delay.count:,}", _ms(x.delay.p50), _ms(x.delay.p95), _ms(x.delay.max),
                      str(len(x.missing)))
        console.print(p)
    busiest = sorted(result.utilisation().items(), key=lambda kv: -kv[1])[:6]
    console.print("utilisation: " + ", ".join(f"{k} {u:.0%}" for k, u in busiest))
    console.print(f"[dim]model: {result.wall_s:.2f} s wall, {result.requests_per_s:,.0f} simulated requests/s, "
                  f"{result.events_per_s:,.0f} events/s[/]")


@click.command()
@preset_option
@click.option("--rps", "rps_range", default="50..2000", show_default=True, help="Rates: A..B or a,b,c.")
@click.option("--points", default=8, show_default=True, help="Rates tried within A..B (geometric).")
@click.option("--replicas", "replicas_range", default="1..4", show_default=True, help="Replicas per app service.")
@click.option("--slo-p95", "slo", default="1s", show_default=True, help="p95 objective, e.g. 1s or 800ms.")
@click.option("--flow", default="rag_query", show_default=True, type=click.Choice(FLOWS))
@click.option("--duration", default=30.0, show_default=True, help="Simulated seconds per point.")
@click.option("--seed", type=int, default=0, show_default=True)
@params_option
@click.option("--cpu", "placement", default="host", show_default=True, type=click.Choice(["host", "vms"]),
              help="Where the cores are: host (the lab: every container and the load generator on this "
                   "machine's cores) or vms (production: each node its own). Needs cpu_s in --params.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Write a sweep directory (capacity.json) for `halab report --capacity`.")
def capacity(preset_name, rps_range, points, replicas_range, slo, flow, duration, seed, params_path, placement, out_dir):
    """Sweep rate x replicas: p95 latency, utilisation per component and per host or VM, highest rate within the SLO."""
    from simulation.capacity import KINDS, best_rates, parse_duration, parse_range, sweep, write

    topo = _topology(preset_name)
    try:
        rates = parse_range(rps_range, points, geometric=True)
        replicas = [int(x) for x in parse_range(replicas_range)]
        slo_s = parse_duration(slo)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    params = _params(params_path)
    cpu_col = "host CPU" if placement == "host" else "VM CPU"  # the busiest VM's, named under the table
    table = Table(title=f"{topo.name}: capacity, SLO p95({flow}) <= {slo_s * 1000:.0f} ms, availability >= 99.9%")
    # Utilisation is offered load per server: above 100 % the station is saturated.
    for col in ("replicas", "rps", f"p95 {flow} ms", "availability", *(f"{k} util" for k in KINDS), cpu_col, "SLO"):
        table.add_column(col, justify="right")
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("capacity", total=len(rates) * len(replicas))

        def on_point(p):
            bar.update(task, advance=1, description=f"replicas {p.replicas}, {p.rps:g} rps")

        found = sweep(topo, rates, replicas, slo_s, duration, params, seed, flow, on_point, placement)
    for p in found:
        table.add_row(str(p.replicas), f"{p.rps:.0f}", _ms(p.p95.get(flow, float("nan"))),
                      f"{p.availability.get(flow, float('nan')):.4f}",
                      *(f"{p.utilisation.get(k, 0.0):.0%}" for k in KINDS), _cpu_cell(p.cpu),
                      "[green]yes[/]" if p.meets_slo else "[red]no[/]")
    console.print(table)
    if placement == "vms" and any(p.cpu for p in found):
        console.print("VM CPU is the busiest VM's: " + ", ".join(
            f"{p.rps:.0f} rps {max(p.cpu, key=p.cpu.get)}" + (f" (replicas {p.replicas})" if len(replicas) > 1 else "")
            for p in found))
    if not any(p.cpu for p in found):
        console.print("[yellow]no CPU demand:[/] the model has no cpu_s (CPU seconds per request per component), so "
                      "cores never queue; measure them on the lab and pass them with --params")
    for n, rate in best_rates(found).items():
        console.print(f"replicas {n}: highest rate meeting the SLO: " + (f"[bold]{rate:.0f} rps[/]" if rate else "none"))
    if out_dir:
        path = write(out_dir, found, topology=topo.name, flow=flow, slo_p95_s=slo_s, duration_s=duration, seed=seed,
                     cpu=placement)
        console.print(f"sweep directory: {path.parent} (`halab report --capacity {path.parent}`)")


def _cpu_cell(cpu: dict[str, float]) -> str:
    """The host's utilisation, or the busiest VM's; "-" without CPU demand."""
    return f"{max(cpu.values()):.0%}" if cpu else "-"


@click.command()
@click.argument("run_dir", type=click.Path(exists=True))
@click.option("--preset", "preset_name", default="seed", show_default=True, type=click.Choice(sorted(PRESETS)),
              help="The topology the run used (for network round trips).")
@click.option("--out", type=click.Path(dir_okay=False), help="Parameter file to write [RUN_DIR/params.json].")
def calibrate(run_dir, preset_name, out):
    """Fit service times from a measured baseline history (RUN_DIR/history.jsonl with step timings)."""
    from simulation.calibrate import MIN_SAMPLES
    from simulation.calibrate import calibrate as fit
    from simulation.params import STATIONS

    try:
        params, counts = fit(run_dir, preset(preset_name))
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if not counts:
        raise click.ClickException(f"{run_dir}: no ok operation carries step timings; nothing to fit")
    t = Table(title="service times per visit (ms): fitted from the run vs defaults")
    for col in ("kind", "samples", "mean", "cv", "default mean", "default cv"):
        t.add_column(col, justify="right")
    for kind, sp in sorted(params.stations.items()):
        d = STATIONS[kind].service
        n = counts.get(kind, 0)
        fitted = n >= MIN_SAMPLES
        t.add_row(kind, f"{n:,}", _ms(sp.service.mean) if fitted else "-", f"{sp.service.cv:.2f}" if fitted else "-",
                  _ms(d.mean), f"{d.cv:.2f}")
    console.print(t)
    target = Path(out) if out else (Path(run_dir) if Path(run_dir).is_dir() else Path(run_dir).parent) / "params.json"
    target.write_text(params.to_json(), encoding="utf-8")
    console.print(f"wrote {target}; use it with `halab simulate --params {target}`")


@click.command()
@click.argument("benchmark", type=click.Path(exists=True, dir_okay=False))
@preset_option
@click.option("--out", type=click.Path(dir_okay=False), help="Parameter file to write [beside BENCHMARK].")
@click.option("--seed", type=int, default=0, show_default=True)
def propagation(benchmark, preset_name, out, seed):
    """Fit policy propagation from a propagation benchmark's JSON, then predict its every row.

    BENCHMARK is what `pytest -m benchmark tests/system/policy_sync/test_propagation_benchmark.py`
    writes (reports/out/propagation.json). The fit: one bundle activation's cost per policies loaded
    (a curve the model interpolates), from the sequential 1 KB rows. Each row is then predicted at its rate and
    compared with the measured delay from the put's acknowledgement to the changed decision."""
    import json

    from scenarios.checkers.latency import percentile
    from simulation.propagation import fit, predict

    try:
        rows = json.loads(Path(benchmark).read_text(encoding="utf-8"))["rows"]
        params = fit(rows)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"{benchmark}: {exc}") from None
    console.print("fitted policy_sync + OPA activation (median ms) per policies loaded: "
                  + ", ".join(f"{n}: {_ms(t)}" for n, t in params.put_curve)
                  + f"; a document through the Data API: {_ms(params.data_put_s)}")
    t = Table(title="propagation, put acknowledged -> changed decision (ms): measured vs predicted")
    for col in ("policies", "size", "rate", "path", "site", "measured p50", "predicted p50", "err", "measured p99",
                "predicted p99", "err"):
        t.add_column(col, justify="right")
    err = lambda m, p: f"{(p - m) / m * 100:+.0f} %" if m else "-"
    for r in rows:
        if r["size"] != "1k":
            continue  # the fit is of 1 KB policies; a 64 KB one compiles as many more rules
        got = predict(preset(preset_name), params, policies=r["policies"], rate=r["rate"], updates=r["updates"],
                      seed=seed, path=r.get("path", "rego"))
        for site, delays in got.items():
            measured = r[site]["decision_after_ack"]
            delays.sort()
            p50, p99 = percentile(delays, 50) * 1000, percentile(delays, 99) * 1000
            t.add_row(str(r["policies"]), r["size"], r["rate"], r.get("path", "rego"), site,
                      f"{measured['p50_ms']:.1f}", f"{p50:.1f}",
                      err(measured["p50_ms"], p50), f"{measured['p99_ms']:.1f}", f"{p99:.1f}", err(measured["p99_ms"], p99))
    console.print(t)
    target = Path(out) if out else Path(benchmark).with_name("propagation-params.json")
    target.write_text(params.to_json(), encoding="utf-8")
    console.print(f"wrote {target}; use it with `halab simulate --params {target}`")
