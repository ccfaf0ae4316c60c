"""WAN link faults on the Toxiproxy routes between sites: packets dropped or thinned out in its
namespace, or toxics (latency, a bandwidth cap, flaky connections) on its proxies."""

from __future__ import annotations

from chaos import network
from chaos.faults.package import Start, Started
from chaos.ledger import ActiveFault
from harness.faults import Targets
from harness.topology.lab import Lab


def _partition(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    routes = network.routes_on(lab, t.directed)
    return network.drop_routes(lab, routes), f"{len(routes)} proxies dropped"


def _loss(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    routes = network.routes_on(lab, t.directed)
    return network.drop_routes(lab, routes, f"LOSS:{float(f.options['probability']):g}"), f"{len(routes)} proxies"


def _toxics(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    routes = network.routes_on(lab, t.directed)
    return network.toxics(lab, routes, f.id, f.kind, f.options), f"{len(routes)} proxies"


PACKAGES: dict[str, Start] = {"partition": _partition, "packet-loss": _loss, "latency": _toxics, "bandwidth": _toxics,
                              "flaky": _toxics}
