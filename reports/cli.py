"""`halab report`: a run's page, an index over a folder of runs, a capacity plan, the teaching
pages, or the propagation page ("where instant ends")."""

from __future__ import annotations

import click

from reports.rundir import NotARunDir


@click.command()
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--prediction", "prediction_dir", type=click.Path(file_okay=False),
              help="A prediction's run directory [RUN_DIR/prediction, if there is one].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Where to write the pages [RUN_DIR, or the folder].")
@click.option("--index", "index_dir", type=click.Path(file_okay=False), help="Build an index page over every run in DIR.")
@click.option("--capacity", "capacity_dirs", multiple=True, type=click.Path(file_okay=False),
              help="A capacity sweep directory (`halab capacity --out DIR`): curves and a recommendation. Repeat it "
                   "to lay sweeps side by side, e.g. the model's and the lab's (`halab capacity-measure`): curves on one "
                   "axis, the highest rate under the SLO of each and predicted / measured; the pages go to --out [the "
                   "model sweep's directory].")
@click.option("--teaching", is_flag=True, help="Write a teaching page per catalogue scenario (and an index) into --out "
              "[reports/out/teaching].")
@click.option("--propagation", "propagation_file", type=click.Path(dir_okay=False),
              help="The propagation benchmark's JSON (reports/out/propagation.json): a page on where \"instant\" ends, "
                   "measured beside the model's prediction, with each row's goals; written to --out [beside the file].")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False),
              help="With --teaching: a folder of run directories; each page shows the newest run of it per preset.")
@click.option("--target-rps", type=float, help="With --capacity: the rate to plan for.")
@click.option("--slo-ms", type=float, help="With --capacity: the p95 objective [the sweep's].")
@click.option("--measured", "measured_dirs", multiple=True, type=click.Path(file_okay=False),
              help="With --capacity: a fault-free load run (`halab load --out`) drawn on the same axes; repeatable.")
def report(run_dir, prediction_dir, out_dir, index_dir, capacity_dirs, teaching, target_rps, slo_ms, measured_dirs, runs_dir,
           propagation_file):
    """Write a self-contained HTML report (and a Markdown summary) of RUN_DIR, its prediction
    drawn over it; or, with --index DIR, a page over every run in DIR; or, with --capacity, a plan;
    or, with --teaching, a page per catalogue scenario; or, with --propagation BENCH.json, where
    "instant" policy propagation ends."""
    chosen = [x for x in (run_dir, index_dir, capacity_dirs, teaching, propagation_file) if x]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of RUN_DIR, --index DIR, --capacity SWEEP_DIR, --teaching or "
                               "--propagation BENCH.json")
    if measured_dirs and not capacity_dirs:
        raise click.UsageError("--measured places load runs on a capacity sweep's axes: give --capacity SWEEP_DIR too")
    if runs_dir and not teaching:
        raise click.UsageError("--runs gives the teaching pages their measurements: give --teaching too")
    try:
        if teaching:
            from reports.teaching import build as build_teaching

            click.echo(f"teaching pages: {build_teaching(out_dir or 'reports/out/teaching', runs_dir=runs_dir)}")
        elif propagation_file:
            from reports.propagation import build as build_propagation

            click.echo(f"propagation page: {build_propagation(propagation_file, out_dir).html}")
        elif index_dir:
            from reports.index import build as build_index

            path = build_index(index_dir, out_dir)
            click.echo(f"index: {path}")
        elif capacity_dirs:
            from reports.capacity import build as build_capacity

            w = build_capacity(capacity_dirs[0], out_dir, target_rps=target_rps, slo_ms=slo_ms, measured_dirs=measured_dirs,
                               other_sweeps=capacity_dirs[1:])
            click.echo(f"capacity report: {w.html}\nsummary: {w.markdown}")
        else:
            from reports.run_report import build

            w = build(run_dir, prediction_dir, out_dir)
            click.echo(f"report: {w.html}\nsummary: {w.markdown}")
    except (NotARunDir, FileNotFoundError) as exc:  # reports.propagation.NotABenchmark too
        raise click.ClickException(str(exc)) from None


__all__ = ["report"]
