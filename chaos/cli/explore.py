"""`halab explore`: search the model for the fault schedules that hurt most, keep the worst
(chaos/worst_schedules.py), optionally replay them on the lab, and print what was found."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from chaos.cli.attach import running_lab
from scenarios.objectives import OBJECTIVES

if TYPE_CHECKING:
    from rich.console import Console


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
    import sys
    from pathlib import Path

    from rich.console import Console

    from chaos import worst_schedules as worst
    from harness.spec import preset
    from simulation import explore as ex

    console = Console(width=None if sys.stdout.isatty() else 160)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(out_dir or f"reports/out/explore-{preset_name.replace('+', '-')}-{objective}-{stamp}")
    lab = None
    if replay:
        lab = running_lab()
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
    kept = worst.keep_worst(result, topo, top, out)
    if lab is not None:
        worst.replay_worst(lab, kept, replay, objective, seed=seed, out=out, say=console.print,
                           on_tick=lambda t, _h: console.print(f"  [{t:5.0f} s]"))
    worst.write_summary(out, result, topo, kept, budget=budget, max_faults=max_faults, seed=seed)
    _print_kept(console, kept, objective, preset_name, worst.other_preset(preset_name), replayed=bool(replay))
    console.print(f"scenario files and explore.json in {out} (`halab simulate --scenario {out}/schedule-1.json`)")


def _print_kept(console: Console, kept: list[dict], objective: str, preset_name: str, other_name: str, *, replayed: bool) -> None:
    from rich.table import Table

    table = Table(title=f"worst schedules for {objective} on {preset_name}, shrunk (score: larger is worse)")
    cols = ["#", "schedule (shrunk)", "score", "found as", f"on {other_name}"] + (["measured", "agrees", "invariants"] if replayed else [])
    for c in cols:
        table.add_column(c, justify="left" if c.startswith("schedule") or c == "found as" else "right")
    for k in kept:
        text = "; ".join(f"{f['kind']} {f['target']} {f['start_s']:g}-{f['stop_s']:g} s" for f in k["faults"])
        row = [str(k["rank"]), text, f"{k['score']:g}", f"{len(k['found'])} fault(s), {k['found_score']:g}",
               "—" if k[other_name] is None else f"{k[other_name]:g}"]
        if replayed:
            row += [f"{k['measured']:g}" if "measured" in k else "—",
                    {True: "yes", False: "[red]NO: a fidelity finding[/]"}.get(k.get("agrees"), "—"),
                    {True: "held", False: "[red]broken[/]"}.get(k.get("invariants_held"), "—")]
        table.add_row(*row)
    console.print(table)
    for k in kept:
        if k.get("agrees") is False:
            console.print(f"[red]fidelity finding[/]: schedule {k['rank']}, model {k['score']:g}, measured "
                          f"{k['measured']:g} ({k['replay']})", highlight=False)
