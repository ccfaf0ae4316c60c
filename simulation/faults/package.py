"""What a fault kind's model package is: how the SimPy model breaks and heals for it. The model
(`m`) is simulation/model.py's Model; the fault is harness/scenario's Fault."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from harness.scenario import Fault


@dataclass(frozen=True)
class ModelFault:
    check: Callable[[Any, Fault], None]  # raises ScenarioError for a target the model cannot run, before time passes
    # Breaks the model; a generator when starting takes model time (a restart's drain and
    # starts), which the fault's process runs to its end before the next gated fault may start.
    start: Callable[[Any, Fault], Iterator | None]
    stop: Callable[[Any, Fault], None]  # heals it at the fault's stop
