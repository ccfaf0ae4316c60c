"""`halab chaos run NAME`: one catalogue scenario on the running lab, its verdicts printed. An
entry marked under load runs under Locust's, which sits above the nemesis in the layers, so
the command lives here and harness/cli.py adds it to chaos/cli/catalogue.py's group."""

from __future__ import annotations

import click


@click.command("run")
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

    from chaos.catalogue import out_dir as default_out
    from chaos.catalogue import run_entry
    from chaos.cli.attach import check_targets, running_lab
    from chaos.cli.flows import print_flows
    from scenarios.catalogue import entry
    from scenarios.checkers.verdict import compose

    try:
        e = entry(name)
    except KeyError as exc:
        raise click.BadParameter(exc.args[0], param_hint="NAME") from None
    lab = running_lab()
    check_targets(lab, e.scenario, "NAME")
    console = Console()
    console.print(f"[bold]{e.name}[/] on {lab.state.preset}: {e.summary}")
    out = out_dir or default_out(e, lab.state.preset)
    load = None
    if e.under_load:
        from loadtests.run import under_load

        load = under_load(out)
    try:
        result, verdicts = run_entry(lab, e, seed=seed, out=out, load=load,
                                     on_tick=lambda t, _h: console.print(f"  [{t:5.0f} s]"))
    except KeyError as exc:
        raise click.ClickException(exc.args[0]) from None
    print_flows(console, result.history)
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
