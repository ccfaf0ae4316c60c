"""The locustfile's own command-line options (`locust -f loadtests/locustfile.py --help`
lists them under "Custom arguments"), and the load they describe.

A rate (`--halab-rate`) or a scenario (`--halab-scenario`) makes the run open-model:
arrivals at their planned times whatever the answers do. Without either, or with
`--halab-closed`, it is Locust's closed model: `-u` users, each waiting for its answer and a
think time before the next request, so a slow system gets less load. The run says which.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.scenario import Load, Scenario, ScenarioError
from loadtests import shapes
from scenarios.catalogue import SPEC_HELP, entry

DEFAULT_DURATION_S = 60.0


def add_arguments(parser) -> None:
    group = parser  # Locust's parser: its "Custom arguments" (an argument group would lose include_in_web_ui)
    group.add_argument("--halab-rate", type=float, default=None,
                       help="Open model: peak arrivals per second (k6's constant-arrival-rate). Without it, Locust's "
                            "closed model with -u users.")
    group.add_argument("--halab-shape", default="steady", choices=sorted(shapes.SHAPES),
                       help="Shape of the rate over the run (the closed model scales -u by it).")
    group.add_argument("--halab-scenario", default="",
                       help=SPEC_HELP + " Its stages and mix (its faults run only under `halab load`).")
    group.add_argument("--halab-duration", type=float, default=None,
                       help=f"Seconds of load (default: the scenario's, else -t, else {DEFAULT_DURATION_S:g}).")
    group.add_argument("--halab-seed", type=int, default=0, help="Seeds the arrivals, users and questions.")
    group.add_argument("--halab-max-in-flight", type=int, default=0,
                       help="Open model: requests in flight at most (k6's maxVUs; default: peak rate x request "
                            "timeout); an arrival finding them busy is a failed `dropped` op at its time.")
    group.add_argument("--halab-closed", action="store_true",
                       help="Locust's closed model even with a scenario: -u users follow its stages.")
    group.add_argument("--halab-think", default="1,3", help="Closed model: think time between requests, MIN,MAX seconds.")
    group.add_argument("--halab-out", default="", help="Run directory for the history [reports/out/locust-<UTC time>].")
    group.add_argument("--halab-state", default="", help="The lab's state file [halab up's].")
    # Set by the master for its workers (sent with every spawn message).
    group.add_argument("--halab-t0", type=float, default=0.0, include_in_web_ui=False, help="(internal) time 0, epoch s")
    group.add_argument("--halab-slices", type=int, default=1, include_in_web_ui=False, help="(internal) generators")


@dataclass(frozen=True)
class Plan:
    scenario: Scenario  # its load is the one driven; closed: the shape the user count follows
    open: bool
    think: tuple[float, float]


def plan(opts) -> Plan:
    """The run the options describe; ScenarioError for options that do not fit together.

    >>> from types import SimpleNamespace as NS
    >>> o = NS(halab_rate=20.0, halab_shape="step", halab_scenario="", halab_duration=40.0, run_time=None, halab_think="1,3")
    >>> p = plan(o); p.open, [s.rps for s in p.scenario.load.stages], p.scenario.faults
    (True, [5.0, 10.0, 15.0, 20.0], ())
    >>> p = plan(NS(**{**vars(o), "halab_rate": None, "halab_scenario": "dc2-down", "halab_shape": "steady"}))
    >>> p.open, p.scenario.load.duration_s, [f.kind for f in p.scenario.faults]
    (True, 40.0, ['site-down'])
    >>> plan(NS(**{**vars(o), "halab_rate": None})).open, plan(NS(**{**vars(o), "halab_rate": None, "halab_closed": True})).open
    (False, False)
    >>> plan(NS(**{**vars(o), "halab_scenario": "dc2-down"}))
    Traceback (most recent call last):
    ...
    harness.scenario.ScenarioError: a scenario brings its own stages: --halab-shape step does not apply to it
    """
    think = _think(opts.halab_think)
    closed = getattr(opts, "halab_closed", False)
    if closed and opts.halab_rate is not None:
        raise ScenarioError("--halab-rate is the open model's; the closed model's load is -u users")
    duration = opts.halab_duration or (float(opts.run_time) if getattr(opts, "run_time", None) else None)
    rate = opts.halab_rate
    if opts.halab_scenario:
        if opts.halab_shape != "steady":
            raise ScenarioError(f"a scenario brings its own stages: --halab-shape {opts.halab_shape} does not apply to it")
        sc = entry(opts.halab_scenario).scenario
        if rate is not None or duration is not None:
            sc = sc.with_load(rate, duration)
        return Plan(sc, not closed, think)
    load: Load = shapes.shape(opts.halab_shape, rate or 1.0, duration or DEFAULT_DURATION_S)
    return Plan(Scenario(f"locust-{opts.halab_shape}", load), rate is not None, think)


def _think(raw: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in raw.split(","))
    except ValueError:
        raise ScenarioError(f"--halab-think is MIN,MAX seconds, not {raw!r}") from None
    if not 0 <= lo <= hi:
        raise ScenarioError(f"--halab-think needs 0 <= MIN <= MAX, not {raw!r}")
    return lo, hi
