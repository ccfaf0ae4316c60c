"""`halab fault`, `halab faults`, `halab heal` (harness/cli.py maps the names here)."""

from __future__ import annotations

import time

import click

from harness.faults import FAULT_KINDS
from scenarios.catalogue import SPEC_HELP
from scenarios.objectives import OBJECTIVES


def _lab():
    from harness.topology import attach
    from harness.topology.realise import StartupError

    try:
        return attach()
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None


def check_targets(lab, scenario, hint: str = "--scenario") -> None:
    """Every fault's target exists in the running lab's preset, or a usage error naming the valid ones."""
    from harness.faults import TargetError, resolve

    for f in scenario.faults:
        try:
            resolve(lab.plan.topology, f.kind, f.target)
        except TargetError as exc:
            raise click.BadParameter(str(exc), param_hint=hint) from None


def _options(pairs: tuple[str, ...]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


_KINDS_HELP = "\n".join(f"  {k.name:<18} ({k.target}) {k.help}" for k in FAULT_KINDS.values())


@click.command(epilog="\b\nFault kinds (target type):\n" + _KINDS_HELP)
@click.argument("kind", type=click.Choice(sorted(FAULT_KINDS)), metavar="KIND")
@click.argument("target", default="")
@click.option("--for", "for_s", type=float, help="Heal after this many seconds (else it stays until `halab heal`).")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="Fault option, e.g. -o mode=reject, -o latency_ms=100 -o jitter_ms=50.")
def fault(kind: str, target: str, for_s: float | None, options: tuple[str, ...]) -> None:
    """Inject one fault into the running lab. TARGET is a site, node, component, kind or link
    ("dc1,dc2", "dc1->dc2", "dc2") as the kind needs; faults on the leader or the LLM take none."""
    from chaos.nemesis import Nemesis
    from harness.faults import TargetError

    lab = _lab()
    n = Nemesis(lab)
    t0 = time.monotonic()
    try:
        f = n.start(kind, target, _options(options))
    except TargetError as exc:
        raise click.BadParameter(str(exc), param_hint="TARGET") from None
    click.echo(f"{kind} {target}: {f.what} (in {time.monotonic() - t0:.1f} s; id {f.id})")
    if for_s is None:
        click.echo("active until `halab heal`")
        return
    try:
        time.sleep(for_s)
    finally:
        t1 = time.monotonic()
        n.stop(f)
        click.echo(f"healed in {time.monotonic() - t1:.1f} s")


@click.command()
def faults() -> None:
    """List the faults active on the running lab."""
    from chaos.nemesis import Nemesis

    active = Nemesis(_lab()).active()
    if not active:
        click.echo("no active faults")
    for f in active:
        click.echo(f"{f.id:<12} {f.kind:<18} {f.target:<12} {time.time() - f.started_at:7.0f} s  {f.what}")


@click.command()
def heal() -> None:
    """Heal everything: active faults undone, proxies enabled, fault toxics removed, packet
    rules flushed, containers unpaused and started, OpenBao unsealed. Idempotent."""
    from chaos.nemesis import Nemesis

    t0 = time.monotonic()
    done = Nemesis(_lab()).heal_all()
    click.echo(f"healed {len(done)} fault(s){': ' + ', '.join(done) if done else ''}; "
               f"lab swept in {time.monotonic() - t0:.1f} s")


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
    lab = _lab()
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
    _table(console, result.history)
    for e in result.errors:
        console.print(f"[red]nemesis: {e}[/]")
    if result.driver["dropped"]:
        console.print(f"[yellow]{result.driver['dropped']} arrivals found {result.driver['workers']} requests in "
                      f"flight and were recorded as dropped[/]")
    console.print(f"run directory: {out}")


def _table(console, history) -> None:
    from rich.table import Table

    from scenarios import checkers

    table = Table(title="measured flows (latency in ms from the intended start, over ok operations)")
    for col in ("flow", "ok", "fail", "info", "avail", "p50", "p95", "p99", "max"):
        table.add_column(col, justify="left" if col == "flow" else "right")
    lat = checkers.latency(history)
    for f, a in checkers.availability(history).items():
        la = lat.get(f)
        table.add_row(f, f"{a.ok:,}", f"{a.fail:,}", f"{a.info:,}", f"{a.availability:.4f}",
                      *(f"{getattr(la, k) * 1000:.1f}" if la else "-" for k in ("p50", "p95", "p99", "max")))
    console.print(table)


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


@chaos.command("run")
@click.argument("name")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Run directory [reports/out/<preset>-<name>-<time>].")
def chaos_run(name: str, seed: int, out_dir: str | None) -> None:
    """Run one catalogue scenario on the running lab (`halab up --preset P` picks the preset)
    and print its verdicts. Exits 1 when a verdict is false. NAME@RPS runs it at a constant
    rate (baseline@12), NAME@RPS/DURATION for DURATION seconds with its fault times scaled
    (dc2-down@10/100), each held to the entry's expectations. NAME may also be a .json/.toml
    scenario file (`halab explore` writes them): it is held to the invariants every run
    keeps, with no availability or latency goal."""
    from rich.console import Console

    from chaos.catalogue import run_entry
    from scenarios.catalogue import entry
    from scenarios.checkers.verdict import compose

    try:
        e = entry(name)
    except KeyError as exc:
        raise click.BadParameter(exc.args[0], param_hint="NAME") from None
    lab = _lab()
    check_targets(lab, e.scenario, "NAME")
    console = Console()
    console.print(f"[bold]{e.name}[/] on {lab.state.preset}: {e.summary}")
    from chaos.catalogue import out_dir as default_out

    out = out_dir or default_out(e, lab.state.preset)
    load = None
    if e.under_load:  # the CLI composes the layers: Locust's load sits above the nemesis
        from loadtests.run import under_load

        load = under_load(out)
    try:
        result, verdicts = run_entry(lab, e, seed=seed, out=out, load=load,
                                     on_tick=lambda t, _h: console.print(f"  [{t:5.0f} s]"))
    except KeyError as exc:
        raise click.ClickException(exc.args[0]) from None
    _table(console, result.history)
    for v in verdicts:
        colour = {True: "green", False: "red"}.get(v.valid, "yellow")
        console.print(f"[{colour}]{str(v.valid):<8}[/] {v.name:<16} {v.figures} {v.why}")
    from scenarios.compare import compare

    figures = compare(result.out)
    console.print("measured:  ", figures["measured"], highlight=False)
    console.print("predicted: ", figures["predicted"] or "(the model does not predict these faults)", highlight=False)
    overall = compose(verdicts)
    console.print(f"valid: {overall}" + (f"  (known miss: {e.xfail})" if e.xfail else "") + f"   run directory: {result.out}")
    if overall is False and not e.xfail:
        raise SystemExit(1)


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

    lab = _lab()
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


@click.command()
@click.option("--preset", "preset_name", type=click.Choice(["seed", "seed+witness"]), default="seed", show_default=True)
@click.option("--objective", type=click.Choice(sorted(OBJECTIVES)),
              default="unavailability", show_default=True, help="What to make worst (scenarios/objectives.py).")
@click.option("--budget", type=click.IntRange(1, 1_000_000), default=500, show_default=True, help="Schedules to try.")
@click.option("--max-faults", type=click.IntRange(1, 8), default=2, show_default=True, help="Faults per schedule at most.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the search (the model's runs use a fixed seed).")
@click.option("--top", type=click.IntRange(1, 50), default=5, show_default=True, help="Schedules to shrink and keep.")
@click.option("--replay", type=click.IntRange(0, 50), default=0, show_default=True,
              help="Run the N worst on the running lab (`halab up --preset P` first) and score them measured.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Where to write [reports/out/explore-<preset>-<objective>-<UTC time>].")
def explore(preset_name, objective, budget, max_faults, seed, top, replay, out_dir):
    """Search the SimPy model for the fault schedules that hurt most, shrink the worst to
    their smallest form, and write each as a scenario file that `halab simulate --scenario`
    and `halab measure --scenario` run unchanged. Each schedule is scored on a 60 s run at
    8 rps; the worst ones are also scored on the other preset (what the witness changes).
    With --replay N, the N worst run on the lab through the nemesis, measured beside the
    model's score; a disagreement is a fidelity finding."""
    import json
    import sys
    from dataclasses import asdict
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from harness.spec import preset
    from simulation import explore as ex

    console = Console(width=None if sys.stdout.isatty() else 160)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(out_dir or f"reports/out/explore-{preset_name.replace('+', '-')}-{objective}-{stamp}")
    lab = None
    if replay:
        lab = _lab()
        if lab.state.preset != preset_name:
            raise click.UsageError(f"--replay runs on the lab, which is {lab.state.preset}: "
                                   f"`halab down && halab up --preset {preset_name}` first")
    last = [0.0]

    def progress(done: int, elapsed: float, best: float) -> None:
        if elapsed - last[0] >= 2.0 or done == budget:
            last[0] = elapsed
            left = (budget - done) * elapsed / done if done else float("nan")
            console.print(f"  [{elapsed:5.0f} s] {done:,}/{budget:,} schedules, worst score so far {best:g}, "
                          f"~{left:.0f} s left")

    topo = preset(preset_name)
    console.print(f"exploring {preset_name} for [bold]{objective}[/] ({OBJECTIVES[objective][1]}): "
                  f"{len(ex.candidates(topo))} fault candidates, up to {max_faults} per schedule, budget {budget:,} ...")
    console.print("  left out, each a total outage alone by construction: "
                  + ", ".join(f"{k} {t}" for k, t in ex.total_alone(topo)), highlight=False)
    result = ex.explore(preset_name, objective, budget=budget, max_faults=max_faults, seed=seed, on_progress=progress)
    console.print(f"{result.tried:,} schedules in {result.seconds:.1f} s: {result.per_second:.1f} schedules/s; "
                  f"worst score {result.ranked[0].score if result.ranked else 0:g}")
    other_name = "seed+witness" if preset_name == "seed" else "seed"
    other = preset(other_name)
    out.mkdir(parents=True, exist_ok=True)
    kept: list[dict] = []
    seen: set = set()
    for found in result.ranked:  # worst first; one schedule per shape (what it breaks)
        if len(kept) >= top or found.score <= 0:
            break
        if found.shape in seen:
            continue
        small = ex.shrink(topo, objective, found)
        if small.shape in seen:  # the same faults at other times: nothing new to learn
            continue
        seen.add(small.shape)
        i = len(kept) + 1
        sc = ex.scenario_of(small.faults, name=f"explored-{objective}-{i}")
        path = out / f"schedule-{i}.json"
        path.write_text(json.dumps(sc.to_dict(), indent=2), encoding="utf-8")
        kept.append({"rank": i, "found": [asdict(f) for f in found.faults], "found_score": found.score,
                     "faults": [asdict(f) for f in small.faults], "score": small.score,
                     other_name: ex.evaluate(other, objective, small.faults), "file": str(path)})
    if replay:
        from chaos.replay import replay as replay_one

        for k in kept[:replay]:
            console.print(f"replaying {k['file']} on {lab.run_id} (healed and healthy first) ...")
            k.update(replay_one(lab, k, objective, seed=seed, out=out, on_tick=lambda t, _h: console.print(f"  [{t:5.0f} s]")))
    (out / "explore.json").write_text(json.dumps({
        "preset": preset_name, "objective": objective, "budget": budget, "max_faults": max_faults, "seed": seed,
        "tried": result.tried, "seconds": round(result.seconds, 2), "schedules_per_s": round(result.per_second, 2),
        "left_out": [f"{k} {t}" for k, t in ex.total_alone(topo)],
        "run": {"duration_s": ex.DURATION_S, "rps": ex.RPS, "model_seed": ex.MODEL_SEED}, "worst": kept}, indent=2),
        encoding="utf-8")
    table = Table(title=f"worst schedules for {objective} on {preset_name}, shrunk (score: larger is worse)")
    cols = ["#", "schedule (shrunk)", "score", "found as", f"on {other_name}"] + (["measured", "agrees", "invariants"] if replay else [])
    for c in cols:
        table.add_column(c, justify="left" if c.startswith("schedule") or c == "found as" else "right")
    for k in kept:
        text = "; ".join(f"{f['kind']} {f['target']} {f['start_s']:g}-{f['stop_s']:g} s" for f in k["faults"])
        row = [str(k["rank"]), text, f"{k['score']:g}", f"{len(k['found'])} fault(s), {k['found_score']:g}",
               "—" if k[other_name] is None else f"{k[other_name]:g}"]
        if replay:
            row += [f"{k['measured']:g}" if "measured" in k else "—",
                    {True: "yes", False: "[red]NO: a fidelity finding[/]"}.get(k.get("agrees"), "—"),
                    {True: "held", False: "[red]broken[/]"}.get(k.get("invariants_held"), "—")]
        table.add_row(*row)
    console.print(table)
    for k in kept:
        if k.get("agrees") is False:
            console.print(f"[red]fidelity finding[/]: schedule {k['rank']}, model {k['score']:g}, measured "
                          f"{k['measured']:g} ({k['replay']})", highlight=False)
    console.print(f"scenario files and explore.json in {out} (`halab simulate --scenario {out}/schedule-1.json`)")
