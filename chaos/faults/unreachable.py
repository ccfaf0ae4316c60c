"""One dependency cut off from some clients while it runs: Atlas from a site, OpenBao from a gateway."""

from __future__ import annotations

from chaos import network
from chaos.faults.package import Start, Started
from chaos.ledger import ActiveFault
from harness.faults import Targets


def _mongo(lab, f: ActiveFault, t: Targets) -> Started:
    routes = [r for r in lab.routes if r.client_site == f.target and lab.state.components[r.server]["kind"] == "mongo"]
    return network.drop_routes(lab, routes), f"{len(routes)} proxies to Atlas"


def _vault(lab, f: ActiveFault, t: Targets) -> Started:
    comps = lab.state.components
    gateways = [n for n in t.components if comps[n]["kind"] == "gateway"]
    vaults = [n for n, c in comps.items() if c["kind"] == "vault"]
    ports = sorted({p for v in vaults for p in comps[v]["ports"].values()})
    undo = [step for g in gateways for step in network.block_from(lab, g, vaults, ports)]
    return undo, f"OpenBao from {', '.join(gateways)}"


PACKAGES: dict[str, Start] = {"mongo-unreachable": _mongo, "vault-unreachable": _vault}
