"""The master's run directory (scenarios/run_dir.py layout): the merged history, the
scenario that ran and the checkers' summary, plus what the generators reported."""

from __future__ import annotations

import logging
from pathlib import Path

from harness.history import completions
from loadtests import options
from loadtests.collect import Collector

log = logging.getLogger("halab")


def driver_figures(collector: Collector, plan: options.Plan) -> dict:
    done = list(collector.done.values())
    ops = completions(collector.history())
    figures = {"model": "open" if plan.open else "closed", "generators": max(len(done), 1),
               "requests": sum(d["requests"] for d in done) if done else len(ops),
               "dropped": sum(op.error == "dropped" for op in ops)}
    if done:
        figures |= {"late_starts": sum(d["late_starts"] for d in done),
                    "max_start_lag_s": max(d["max_start_lag_s"] for d in done),
                    "workers": sum(d["in_flight"] for d in done)}
    return figures


def write_run(collector: Collector, environment) -> Path | None:
    from scenarios import run_dir

    opts = environment.parsed_options
    if opts is None or not opts.halab_out:
        return None
    plan = options.plan(opts)
    history = collector.history()
    out = Path(opts.halab_out)
    try:
        from loadtests.session import local_target

        target = local_target(opts)
        run_id, preset = target.run_id, target.preset
    except Exception:  # noqa: BLE001 - the lab went away: the history is still worth writing
        run_id, preset = "", "unknown"
    extra = {"run_id": run_id, "seed": opts.halab_seed, **driver_figures(collector, plan)}
    run_dir.write(out, source="locust", topology=preset, scenario=plan.scenario, history=history, extra=extra)
    log.info(f"halab: {len(completions(history))} operations ({extra['dropped']} dropped) in {out}/history.jsonl")
    return out
