"""A restart: stopped and started again, optionally drained on every LB first and starved of CPU."""

from __future__ import annotations

from chaos import haproxy, process
from chaos.faults.package import Start, Started
from chaos.ledger import ActiveFault
from harness.faults import Targets
from harness.topology.lab import Lab


def restart(lab: Lab, names: list[str], drain: bool, cpus: float) -> list[dict]:
    """With `drain`, the gateways among them are drained on every LB first, made ready again once
    healthy, and the restart is done once every LB has them UP. `cpus` starves the restarted
    containers while they start (a slow machine), then lifts it."""
    gateways = [n for n in names if lab.state.component(n).kind == "gateway"] if drain else []
    if gateways:
        haproxy.drain(lab.state, gateways)
    try:
        with process.cpus_limited(lab, names, cpus):
            return process.restart(lab, names)
    finally:
        if gateways:
            haproxy.ready(lab.state, gateways)


def _start(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    names = list(t.components)
    return restart(lab, names, drain=bool(f.options.get("drain", 1)), cpus=float(f.options.get("cpus", 0))), ", ".join(names)


PACKAGES: dict[str, Start] = {"restart": _start}
