"""Network faults on the WAN link: packets dropped or refused in the Toxiproxy container's
namespace (iptables), and Toxiproxy toxics for latency, bandwidth and flaky connections.

Each proxy listens on the Toxiproxy container's address on the *client's* site network at
the server's port (harness/topology/wan.py), so one (address, port) pair is exactly one
direction of one connection kind: dropping it cuts clients of that site from that server
while the other direction stays. That is what makes a cut asymmetric, and a dead DC look
dead (SYNs unanswered) instead of slow.
"""

from __future__ import annotations

from harness import netns
from harness.topology.lab import Lab
from harness.topology.wan import Route

TOXIC_TYPES = {
    "latency": lambda o: ("latency", {"latency": round(float(o["latency_ms"])), "jitter": round(float(o["jitter_ms"]))}),
    "bandwidth": lambda o: ("bandwidth", {"rate": round(float(o["rate_kbps"]))}),
}


def listen_ips(lab: Lab) -> dict[str, str]:
    """Site -> the WAN container's address on that site's network."""
    c = lab.docker.containers.get(lab.plan.wan_container)
    nets = c.attrs["NetworkSettings"]["Networks"]
    return {site: nets[net]["IPAddress"] for site, net in lab.state.networks.items() if net in nets}


def routes_on(lab: Lab, directed) -> list[Route]:
    pairs = set(map(tuple, directed))
    return [r for r in lab.routes if (r.client_site, r.server_site) in pairs]


def routes_to(lab: Lab, servers) -> list[Route]:
    return [r for r in lab.routes if r.server in set(servers)]


def drop_routes(lab: Lab, routes: list[Route], action: str = "DROP") -> list[dict]:
    """Blackhole (DROP), refuse (REJECT) or thin out (LOSS:p) each route at its listener."""
    if not routes:
        return []
    ips = listen_ips(lab)
    container = lab.plan.wan_container
    pid = netns.pid_of(lab.docker, container)
    undo = []
    for r in routes:
        for rule in netns.drop_listener(ips[r.client_site], r.port, action):
            netns.add(pid, rule)
            undo.append({"do": "iptables-delete", "container": container, "rule": rule})
    return undo


def block_from(lab: Lab, client: str, servers: list[str], ports: list[int]) -> list[dict]:
    """`client`'s own connections to the servers (their real addresses, and the WAN proxy's
    address on its site) dropped, in the client's namespace: OpenBao unreachable from one gateway."""
    comp = lab.state.component(client)
    container = comp.container
    pid = netns.pid_of(lab.docker, container)
    wan_ip = listen_ips(lab).get(comp.site)
    undo = []
    for server in servers:
        ips = {lab.state.component(server).address, wan_ip} - {None}
        for ip in sorted(ips):
            for port in ports:
                for rule in netns.drop_to(ip, port):
                    netns.add(pid, rule)
                    undo.append({"do": "iptables-delete", "container": container, "rule": rule})
    return undo


def toxics(lab: Lab, routes: list[Route], fault_id: str, kind: str, options: dict) -> list[dict]:
    """The fault's toxics on each route, named after the fault so heal removes only them."""
    undo = []
    for r in routes:
        for type_, attrs in _toxics(kind, options):
            for name in lab.wan.add_toxic(r.name, type_, attrs, prefix=f"{fault_id}_{type_}_"):
                undo.append({"do": "remove-toxic", "proxy": r.name, "toxic": name})
    return undo


def _toxics(kind: str, o: dict) -> list[tuple[str, dict]]:
    if kind == "flaky":
        return [("reset_peer", {"timeout": round(float(o["reset_ms"]))}),
                ("slicer", {"average_size": round(float(o["slice_bytes"])), "size_variation": 16, "delay": 1000})]
    return [TOXIC_TYPES[kind](o)]
