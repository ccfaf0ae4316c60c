"""The WAN link: which cross-site connections exist, and the Toxiproxy proxy that carries each.

One multi-homed Toxiproxy container sits on every site network. On a site's network it holds
the aliases of the remote components that site dials, so `etcd2` resolves, inside dc1, to
the proxy. Each proxy listens on the proxy's address on the *client's* network, at the
server's own port, and forwards to the server's unique container name; so one port number
serves both directions and every cross-site byte crosses a named proxy.

    >>> from harness.spec import preset
    >>> from harness.topology.plan import Plan
    >>> routes = wan_routes(Plan.of(preset("seed"), "demo"))
    >>> [r.name for r in routes if r.client_site == "edge"]
    ['edge__gateway1_http', 'edge__gateway2_http']
    >>> r = next(r for r in routes if r.name == "dc1__etcd2_peer")
    >>> r.upstream.endswith(":2390"), r.carries
    (True, ('etcd Raft peers: etcd1 (dc1) -> etcd2 (dc2)',))

Which connections cross the WAN is crossings.py's business; here each crossing becomes a
proxy per (client site, server, port): several connections may share one.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.kinds import KINDS
from harness.topology.crossings import crossings
from harness.topology.plan import Plan


@dataclass(frozen=True)
class Route:
    """One Toxiproxy proxy: clients on `client_site` dialing `server`'s `role` port."""

    client_site: str
    server: str
    server_site: str
    role: str
    port: int
    upstream: str  # real container name and port: never an alias
    carries: tuple[str, ...]
    latency_ms: float = 0.0  # the spec's Link, one way: the baseline toxics in each direction
    jitter_ms: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.client_site}__{self.server}_{self.role}"

    @property
    def link(self) -> frozenset[str]:
        return frozenset((self.client_site, self.server_site))


def wan_routes(plan: Plan) -> tuple[Route, ...]:
    """Every proxy the plan needs, ordered by client site then server, with what each carries."""
    carries: dict[tuple[str, str, str], list[str]] = {}
    for x in crossings(plan.topology):
        server = plan[x.server]
        roles = KINDS[x.server_kind].peer_roles if x.peer else (next(iter(server.ports)),)
        for role in roles:
            lines = carries.setdefault((x.client_site, x.server, role), [])
            if x.what not in lines:
                lines.append(x.what)
    site_order = {s.name: i for i, s in enumerate(plan.topology.sites)}
    comp_order = {p.name: i for i, p in enumerate(plan.placements)}
    routes = []
    for (site, server_name, role), lines in carries.items():
        server = plan[server_name]
        port = server.ports[role]
        link = plan.topology.link(site, server.site)
        routes.append(Route(site, server_name, server.site, role, port, f"{server.container}:{port}", tuple(lines),
                            link.latency_ms if link else 0.0, link.jitter_ms if link else 0.0))
    routes.sort(key=lambda r: (site_order[r.client_site], comp_order[r.server], r.role))
    return tuple(routes)
def aliases_by_site(routes: tuple[Route, ...]) -> dict[str, list[str]]:
    """Site -> the remote component names the proxy answers for on that site's network."""
    out: dict[str, list[str]] = {}
    for r in routes:
        names = out.setdefault(r.client_site, [])
        if r.server not in names:
            names.append(r.server)
    return out


def describe(routes: tuple[Route, ...]) -> list[str]:
    """The listing `halab status` prints: proxy name, listen side, upstream, what it carries."""
    lines = []
    for r in routes:
        lines.append(f"{r.name:<28} {r.client_site:>8} -> {r.server}:{r.port} [{r.server_site}]"
                     f"  {r.latency_ms:g}±{r.jitter_ms:g} ms each way")
        lines += [f"    {c}" for c in r.carries]
    return lines
