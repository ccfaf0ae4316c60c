"""Load shapes as harness Loads (stages of arrival rate): the same plan drives Locust's open
model here, `halab measure` and the SimPy model. `rate` is the shape's peak, `duration_s`
its length; the scenario shape is a scenario's own stages.

    >>> [s.rps for s in shape("step", 20, 80).stages]
    [5.0, 10.0, 15.0, 20.0]
    >>> [(s.duration_s, s.rps) for s in shape("spike", 50, 100).stages]
    [(40.0, 10.0), (20.0, 50.0), (40.0, 10.0)]
    >>> d = shape("diurnal", 10, 240); len(d.stages), min(s.rps for s in d.stages), max(s.rps for s in d.stages)
    (24, 1.0, 10.0)
    >>> shape("sawtooth", 1, 1)
    Traceback (most recent call last):
    ...
    harness.scenario.ScenarioError: unknown shape 'sawtooth'; known: steady, step, spike, diurnal
"""

from __future__ import annotations

import math

from harness.scenario import POLICY_UPDATE, RAG_INGEST, RAG_QUERY, Load, ScenarioError, Stage

# Queries often, ingests and policy updates now and then.
MIX = ((RAG_QUERY, 0.90), (POLICY_UPDATE, 0.05), (RAG_INGEST, 0.05))


def _steady(rate: float, d: float) -> tuple[Stage, ...]:
    return (Stage(d, rate),)


def _step(rate: float, d: float) -> tuple[Stage, ...]:
    return tuple(Stage(d / 4, rate * k / 4) for k in (1, 2, 3, 4))


def _spike(rate: float, d: float) -> tuple[Stage, ...]:
    return Stage(d * 0.4, rate / 5), Stage(d * 0.2, rate), Stage(d * 0.4, rate / 5)


def _diurnal(rate: float, d: float) -> tuple[Stage, ...]:
    """A day in 24 hours of the run: 10 % of the peak at midnight, the peak at noon."""
    return tuple(Stage(d / 24, round(rate * (0.55 - 0.45 * math.cos(2 * math.pi * h / 24)), 3)) for h in range(24))


SHAPES = {"steady": _steady, "step": _step, "spike": _spike, "diurnal": _diurnal}


def shape(name: str, rate: float, duration_s: float, mix=MIX) -> Load:
    if name not in SHAPES:
        raise ScenarioError(f"unknown shape {name!r}; known: {', '.join(SHAPES)}")
    if rate <= 0 or duration_s <= 0:
        raise ScenarioError("a shape needs a rate > 0 and a duration > 0")
    return Load(SHAPES[name](float(rate), float(duration_s)), tuple(mix))
