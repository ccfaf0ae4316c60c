"""A restart: stopped and started again, optionally drained on every LB first and starved of CPU."""

from __future__ import annotations

import logging

import httpx

from chaos import haproxy, process
from chaos.faults.package import Start, Started
from chaos.ledger import ActiveFault
from harness.faults import Targets
from harness.kinds import KINDS
from harness.topology import trust
from harness.topology.lab import Lab
from harness.waiting import eventually

log = logging.getLogger(__name__)
READY_S = 60.0


def restart(lab: Lab, names: list[str], drain: bool, cpus: float) -> list[dict]:
    """With `drain`, the gateways among them are drained on every LB first, made ready again once
    healthy, and the restart is done once every LB has them UP. `cpus` starves the restarted
    containers while they start (a slow machine), then lifts it."""
    gateways = [n for n in names if lab.state.component(n).kind == "gateway"] if drain else []
    if gateways:
        haproxy.drain(lab.state, gateways)
    try:
        with process.cpus_limited(lab, names, cpus):
            steps = process.restart(lab, names)
        if gateways:
            _ready(lab, names)
        return steps
    finally:
        if gateways:
            haproxy.ready(lab.state, gateways)


def _ready(lab: Lab, names: list[str], timeout_s: float = READY_S) -> None:
    """An operator puts a node back once its services are ready, not merely up: /healthz
    answers before RAG has its MongoDB and vector clients, and the first queries the LBs sent
    to such a node waited out the gateway's 5 s route timeout (ca-rotation, once in CI). Past
    `timeout_s` the node goes back anyway, and the LBs' own checks decide."""
    services = [n for n in names if KINDS[lab.state.component(n).kind].module]

    def ready(name: str) -> bool:
        try:
            with trust.component(lab.state, name, timeout=2.0) as http:
                return http.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        eventually(lambda: all(ready(n) for n in services), timeout_s=timeout_s,
                   what=f"{', '.join(services)} ready", poll_s=0.2)
    except AssertionError as exc:
        log.warning("putting %s back not ready: %s", ", ".join(names), exc)


def _start(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    names = list(t.components)
    return restart(lab, names, drain=bool(f.options.get("drain", 1)), cpus=float(f.options.get("cpus", 0))), ", ".join(names)


PACKAGES: dict[str, Start] = {"restart": _start}
