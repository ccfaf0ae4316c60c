"""The catalogue's rolling restart in the model (issue 33): each app node drained, restarted and
back in every LB before the next goes down, because the second restart is gated on the first.
Its verdict must not depend on how slow a start is; without the gate it does.

Scenario: scenarios/catalogue/rolling_restart.py (starved starts, drain) over SEEDS; its
faults with `gated` dropped for the contrast.
"""

from __future__ import annotations

import dataclasses

import pytest

from harness.scenario import Fault, Load, Scenario
from harness.spec import preset
from scenarios.catalogue import entry
from simulation.params import ModelParams
from simulation.run import simulate

SEEDS = range(3)
ROLLING = entry("rolling-restart").scenario


def out_of_rotation(history, lb: str = "lb1") -> dict[str, list[list[float]]]:
    """Per gateway, the intervals `lb` had it DOWN (HAProxy's marks)."""
    out: dict[str, list[list[float]]] = {}
    for op in history:
        if op.process == "haproxy" and op.value["lb"] == lb:
            spans = out.setdefault(op.value["server"], [])
            if op.f == "server-down":
                spans.append([op.time, float("inf")])
            elif spans:
                spans[-1][1] = op.time
    return out


def overlap(a: list[list[float]], b: list[list[float]]) -> bool:
    return any(x0 < y1 and y0 < x1 for x0, x1 in a for y0, y1 in b)


def failed(r) -> int:
    return sum(a.fail + a.info for a in r.availability().values())


@pytest.mark.parametrize("name", ["seed", "seed+witness", "seed+naive-lb"])
def test_a_gated_rolling_restart_never_has_both_gateways_out(name: str) -> None:
    for seed in SEEDS:
        r = simulate(preset(name), ROLLING, seed=seed)
        h = r.history()
        spans = out_of_rotation(h)
        assert len(spans["gateway1"]) == len(spans["gateway2"]) == 1  # each restarted once
        assert not overlap(spans["gateway1"], spans["gateway2"])
        phases = {(op.value["target"], op.value["phase"]): op.time for op in h if op.process == "nemesis"}
        assert phases[("dc2-app", "start")] >= phases[("dc1-app", "started")]
        assert failed(r) == 0


def test_slower_starts_only_delay_the_next_restart() -> None:
    fast = simulate(preset("seed"), ROLLING, seed=1)
    slow = simulate(preset("seed"), ROLLING, ModelParams(starved_start=5.0), seed=1)

    def second_start(r) -> float:
        return next(op.time for op in r.model.events if op.value == {"target": "dc2-app", "phase": "start"})

    assert second_start(slow) > second_start(fast) + 10.0
    assert failed(fast) == failed(slow) == 0


def test_without_the_gate_the_second_node_goes_down_while_the_first_is_out() -> None:
    ungated = dataclasses.replace(ROLLING, faults=tuple(dataclasses.replace(f, gated=False) for f in ROLLING.faults))
    r = simulate(preset("seed"), ungated, seed=1)
    spans = out_of_rotation(r.history())
    assert overlap(spans["gateway1"], spans["gateway2"])
    assert failed(r) > 0


def test_a_gated_kill_waits_for_the_restart_before_it() -> None:
    sc = Scenario("t", Load.constant(5.0, 60.0), (Fault("restart", "dc1-app", 5.0, 6.0),
                                                   Fault("component-down", "vault2", 6.0, 20.0, gated=True)))
    h = simulate(preset("seed"), sc, seed=1).history()
    phases = {(op.value["target"], op.value["phase"]): op.time for op in h if op.process == "nemesis"}
    start = phases[("vault2", "start")]
    assert start == phases[("dc1-app", "started")] > 6.0
    assert phases[("vault2", "stop")] == pytest.approx(start + 14.0)  # its stop keeps its distance
