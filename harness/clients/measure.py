"""A scenario's load against the running lab: the measured counterpart of `halab simulate`
(faults come from chaos/run.py, which wraps this).

Arrivals follow the scenario's load (driver.py). A rag_query asks one of the sample corpus's
questions as one of the seeded users. A policy_update publishes a new version of one of eight
policies of its own (`measure-0`..`measure-7`) through the admin consumer, so the platform's
default policy is never touched; consecutive updates go to different policies, because two
updates of one policy at once are a real conflict (409, recorded as `fail`) but not what a
baseline is for. The run directory has the layout of a prediction's (scenarios/run_dir.py);
`halab calibrate DIR` fits the model's service times from it.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from contextlib import AbstractContextManager

from harness.clients.driver import arrivals, concurrency, drive
from harness.clients.lab import LabClient
from harness.clients.recorder import Recorder
from harness.history import Op
from harness.scenario import POLICY_UPDATE, RAG_QUERY, Scenario, ScenarioError
from harness.seed_data import CORPUS, USERS

POLICIES = 8
QUESTIONS = tuple(d.title + "?" for d in CORPUS)
USERS_ASKING = tuple(u.name for u in USERS if u.role == "user")
ADMIN = next(u.name for u in USERS if u.role == "admin")


def policy(n: int) -> tuple[str, str]:
    """The n-th update: (policy id, Rego); the content changes each time (an unchanged
    policy is not a new version)."""
    k = n % POLICIES
    return f"measure-{k}", f"package halab.measure{k}\n\nupdates := {n}\n"


def check(scenario: Scenario) -> None:
    other = sorted(f for f, share in scenario.load.shares().items() if share > 0 and f not in (RAG_QUERY, POLICY_UPDATE))
    if other:
        raise ScenarioError(f"`halab measure` drives rag_query and policy_update; the mix also asks for {', '.join(other)}")


def measure(lab, scenario: Scenario, *, seed: int = 0, workers: int | None = None,
            on_tick: Callable[[float, list[Op]], None] | None = None,
            during: Callable[[Recorder], AbstractContextManager] | None = None) -> tuple[list[Op], dict]:
    """Run `scenario`'s load against `lab` (a harness.topology Running); returns the history
    and what the driver saw. `during(recorder)` wraps the load: the nemesis's schedule and
    the observers run inside it (chaos/run.py), on the recorder's clock, which starts at the
    first arrival. `workers` defaults to the peak rate times the request timeout."""
    check(scenario)
    topo = lab.plan.topology
    recorder = Recorder()
    client = LabClient(lab.state.vip_url, lab.consumers, {g.name: g.site for g in lab.plan.of_kind("gateway")},
                       recorder, timeout_s=topo.params.timeouts.request_s)
    workers = workers or concurrency(scenario.load, topo.params.timeouts.request_s)
    rng = random.Random(seed)
    picks = [(rng.choice(USERS_ASKING), rng.choice(QUESTIONS)) for _ in range(64)]
    updates = iter(range(POLICIES, 1 << 62))
    try:
        # The policies exist before the run, so every recorded update is an update.
        for n in range(POLICIES):
            policy_id, rego = policy(n)
            client.http.put(f"/cms/policies/{policy_id}", json={"rego": rego, "description": "halab measure"},
                            headers={"apikey": lab.consumers[ADMIN]}).raise_for_status()

        def run(i: int, flow: str, at: float) -> None:
            if flow == RAG_QUERY:
                user, question = picks[i % len(picks)]
                client.rag_query(i, user, question, at=at)
            else:
                client.policy_update(i, ADMIN, *policy(next(updates)), at=at)

        tick = (lambda elapsed: on_tick(elapsed, recorder.history())) if on_tick else None
        recorder.restart_clock()
        with during(recorder) if during else contextlib.nullcontext():
            stats = drive(arrivals(scenario.load, seed), run, workers=workers, on_tick=tick, clock=recorder.now,
                          on_drop=lambda i, flow, at: recorder.dropped(i, flow, at))
    finally:
        client.close()
    return recorder.history(), {"seed": seed, "workers": workers, "requests": stats.started + stats.dropped,
                                "dropped": stats.dropped, "late_starts": stats.late,
                                "max_start_lag_s": round(stats.max_lag_s, 4)}
