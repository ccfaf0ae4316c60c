"""Each fault kind the model runs (harness/faults.py's `in_model`), by name: its model package.
A kind's package lives in the module of its family; tests/chaos/test_fault_registry.py holds
them to the table, and checks that each changes what the model does.

    package.py  what a package is: check, start (perhaps over model time), stop
    targets.py  a fault's stations and links, by harness/faults' resolver
    stops.py    site-down, node-crash, component-down
    links.py    partition, latency
    restart.py  restart (drained, starved), as simulation/restart.py runs it
"""

from __future__ import annotations

import simulation.faults.links as links
import simulation.faults.restart as restart
import simulation.faults.stops as stops
from harness.faults import FAULT_KINDS, merge_packages
from harness.scenario import Fault, ScenarioError
from simulation.faults.package import ModelFault

PACKAGES: dict[str, ModelFault] = merge_packages("model", stops.PACKAGES, links.PACKAGES, restart.PACKAGES)


def package(fault: Fault) -> ModelFault:
    try:
        return PACKAGES[fault.kind]
    except KeyError:
        modelled = ", ".join(k for k in FAULT_KINDS if k in PACKAGES)
        raise ScenarioError(f"fault {fault.kind}: the model does not predict it yet (it predicts {modelled}); "
                            "run it on the lab with `halab chaos` / `halab measure`") from None
