"""One dependency cut off from some clients while it runs: Atlas from a site, OpenBao from a gateway."""

from __future__ import annotations

from chaos import network
from chaos.faults.package import Start, Started
from chaos.ledger import ActiveFault
from harness.faults import Targets
from harness.topology.lab import Lab


def _mongo(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    routes = [r for r in lab.routes if r.client_site == f.target and lab.state.component(r.server).kind == "mongo"]
    return network.drop_routes(lab, routes), f"{len(routes)} proxies to Atlas"


def _vault(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    gateways = [n for n in t.components if lab.state.component(n).kind == "gateway"]
    vaults = lab.state.of_kind("vault")
    ports = sorted({p for v in vaults for p in v.ports.values()})
    undo = [step for g in gateways for step in network.block_from(lab, g, [v.name for v in vaults], ports)]
    return undo, f"OpenBao from {', '.join(gateways)}"


PACKAGES: dict[str, Start] = {"mongo-unreachable": _mongo, "vault-unreachable": _vault}
