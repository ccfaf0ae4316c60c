"""halab's load for Locust: `locust -f loadtests/locustfile.py` against a running `halab up`
(the VIP and the API keys come from the lab's state), or `halab load`, which adds the
nemesis, the observers and the checkers.

    locust -f loadtests/locustfile.py --headless -u 10 -t 30s            # closed model, 10 users
    locust -f loadtests/locustfile.py --headless --halab-rate 20 -t 60s  # open model, 20 arrivals/s
    locust -f loadtests/locustfile.py --halab-rate 20 --halab-shape spike  # web UI on :8089

Every request is also an op in the lab's history format (harness/history.py), completed by
the same rules as `halab measure`'s, and the run directory (--halab-out) is scored by the
same checkers: summary.json beside history.jsonl. `--help` lists the halab options.
"""

from __future__ import annotations

import sys
import time

from locust import events
from locust.runners import WorkerRunner

from harness.scenario import ScenarioError
from loadtests import options, session, shape
from loadtests.closed_model import AdminUser, RagUser
from loadtests.collect import COLLECTOR, DONE, HISTORY
from loadtests.open_model import OpenArrivals
from loadtests.shape import HalabShape
from loadtests.target import NoLab

# Bound after HalabShape, so that Locust runs HalabShape unless --class-picker picks one of these.
SteadyShape, StepShape, SpikeShape, DiurnalShape = shape.SteadyShape, shape.StepShape, shape.SpikeShape, shape.DiurnalShape

__all__ = ["AdminUser", "DiurnalShape", "HalabShape", "OpenArrivals", "RagUser", "SpikeShape", "SteadyShape", "StepShape"]


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    options.add_arguments(parser)


_master: list = []  # the environment whose quit writes the run directory


@events.init.add_listener
def _init(environment, **_kw) -> None:
    runner, opts = environment.runner, environment.parsed_options
    if isinstance(runner, WorkerRunner):
        runner.register_message(session.TARGET, session.on_target)
        return
    if runner is None or opts is None:
        return
    try:
        options.plan(opts)  # bad options are refused before anything starts
        target = session.local_target(opts)
    except (ScenarioError, NoLab) as exc:
        sys.exit(f"halab: {exc}")
    environment.host = environment.host or target.vip_url
    opts.halab_out = opts.halab_out or f"reports/out/locust-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    runner.register_message(HISTORY, COLLECTOR.on_history)
    runner.register_message(DONE, COLLECTOR.on_done)
    _master.append(environment)


@events.test_stop.add_listener
def _stopped(environment, **_kw) -> None:
    COLLECTOR.flush(environment.runner)


@events.quit.add_listener
def _quit(**_kw) -> None:
    from loadtests.write import write_run

    if _master:
        write_run(COLLECTOR, _master[0])
