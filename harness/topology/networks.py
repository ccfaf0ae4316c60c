"""One internal Docker network per site, plus the single publishing path for the VIP.

Site networks are `internal`: no route off the machine. The host still reaches every
container at its address on those networks (it holds each bridge's gateway address), which
is how the harness health-checks and seeds. Only the ingress container also joins the
`publish` network, the one non-internal network, to offer the VIP on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress

from harness.labels import labels
from harness.topology.plan import Plan


def create_site_networks(client, plan: Plan) -> dict[str, object]:
    """Create (labelled, internal) one network per site; returns site -> docker Network."""
    out = {}
    for site in plan.topology.sites:
        out[site.name] = client.networks.create(
            plan.network(site.name),
            driver="bridge",
            internal=True,
            check_duplicate=True,
            labels=labels(plan.run_id, site=site.name),
        )
    return out


def create_publish_network(client, plan: Plan):
    """The non-internal network only the ingress container joins (it publishes on 127.0.0.1)."""
    return client.networks.create(
        plan.publish_network, driver="bridge", internal=False, labels=labels(plan.run_id, site="publish")
    )


def subnet(network) -> ipaddress.IPv4Network:
    network.reload()
    return ipaddress.ip_network(network.attrs["IPAM"]["Config"][0]["Subnet"])


def free_high_address(network) -> tuple[str, int]:
    """An address for the VIP: the subnet's last host. Docker hands out addresses from the low
    end, and a site network holds a handful of containers, so the top one stays free."""
    net = subnet(network)
    return str(net.broadcast_address - 1), net.prefixlen
