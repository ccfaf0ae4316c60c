"""Where every component of a spec runs: its container name, the alias others dial, its ports.

A Plan is computed from the spec alone (no Docker): the realisation starts exactly what it
says, `status` reads it back from the state file, tests assert on it.

    >>> from harness.spec import preset
    >>> plan = Plan.of(preset("seed"), run_id="demo")
    >>> p = plan["etcd2"]
    >>> p.alias, p.site, p.ports["peer"], p.url("client"), p.url("metrics")
    ('etcd2', 'dc2', 2390, 'https://etcd2:2389', 'http://etcd2:2391')
    >>> p.container.startswith("etcd2-")      # the real name: unique, no alias reuses it
    True

Ports. A component some other site dials (crossings.wan_servers) listens on its own port
numbers, its kind's default plus 10 per earlier such component with the same default:
all remote servers seen from one site resolve to the *same* address, the WAN proxy's
address on that site's network, so only the port tells `gateway2` from `llm` there.
Site-local components keep their kind's default port and also answer, on their own site's
network, to their kind's name (`rag`, `opa`): the routes in etcd, shared by every DC, name
`rag:8000` and each DC resolves it to its own rag, like a DC-local DNS name.

    >>> plan["rag1"].ports["http"] == plan["rag2"].ports["http"], plan["rag2"].aliases
    (True, ('rag2', 'rag'))
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from harness.kinds import KINDS
from harness.spec import Component, SpecError, Topology
from harness.topology.crossings import wan_servers

# kind -> {port role: default port}, from the kind table
DEFAULT_PORTS: dict[str, dict[str, int]] = {k.name: dict(k.ports) for k in KINDS.values()}
PORT_STEP = 10
SHARED_PORT_KINDS = frozenset(k.name for k in KINDS.values() if k.shared_port)  # one VIP, one port
WAN_NAME = "wan"  # the multi-homed Toxiproxy container's component-like name
TOXIPROXY_API_PORT = 8474


def run_tag(run_id: str) -> str:
    """Six hex digits that make this run's container and network names unique on the engine."""
    return hashlib.sha1(run_id.encode()).hexdigest()[:6]


@dataclass(frozen=True)
class Placement:
    """One component as realised: `alias` is what every client dials, on every site."""

    component: Component
    site: str
    node: str
    container: str
    ports: Mapping[str, int]
    aliases: tuple[str, ...] = ()  # every name it answers to on its own site's network

    @property
    def name(self) -> str:
        return self.component.name

    @property
    def kind(self) -> str:
        return self.component.kind

    @property
    def alias(self) -> str:
        return self.component.name

    @property
    def port(self) -> int:
        """The component's main port (its first role)."""
        return next(iter(self.ports.values()))

    def hostport(self, role: str | None = None) -> str:
        return f"{self.alias}:{self.ports[role] if role else self.port}"

    def role(self, role: str | None = None) -> str:
        return role or next(iter(self.ports))

    @property
    def tls_roles(self) -> tuple[str, ...]:
        return KINDS[self.kind].tls if self.kind in KINDS else ()

    def url(self, role: str | None = None) -> str:
        """https:// for the roles it serves over TLS (harness/kinds.py), http:// otherwise."""
        scheme = "https" if self.role(role) in self.tls_roles else "http"
        return f"{scheme}://{self.hostport(role)}"


@dataclass(frozen=True)
class Plan:
    """The placements of one topology for one run, in spec order."""

    topology: Topology
    run_id: str
    placements: tuple[Placement, ...] = field(default=())

    @classmethod
    def of(cls, topology: Topology, run_id: str) -> Plan:
        _one_instance_per_node(topology)
        tag = run_tag(run_id)
        remote = wan_servers(topology)
        seen: dict[int, int] = {}
        out = []
        for comp in topology.components:
            defaults = DEFAULT_PORTS[comp.kind]
            # Kinds that share a main port (8000: the services) count up together, so their
            # WAN listeners never collide; a kind's other ports (the gateway's admin) move with it.
            key = next(iter(defaults.values()))
            index = 0
            if comp.name in remote and comp.kind not in SHARED_PORT_KINDS:
                index = seen.get(key, 0)
                seen[key] = index + 1
            ports = MappingProxyType({role: port + PORT_STEP * index for role, port in defaults.items()})
            site = topology.site_of(comp.name)
            same_kind = [c for c in topology.site(site).components if c.kind == comp.kind]
            aliases = (comp.name,) + ((comp.kind,) if len(same_kind) == 1 and comp.kind != comp.name else ())
            out.append(Placement(comp, site, topology.node_of(comp.name), f"{comp.name}-{tag}", ports, aliases))
        return cls(topology, run_id, tuple(out))

    @property
    def tag(self) -> str:
        return run_tag(self.run_id)

    def __getitem__(self, name: str) -> Placement:
        for p in self.placements:
            if p.name == name:
                return p
        raise KeyError(f"no component {name!r} in topology {self.topology.name!r}")

    def of_kind(self, kind: str) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.kind == kind)

    def on_site(self, site: str) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.site == site)

    def local(self, kind: str, site: str) -> Placement | None:
        """The first component of `kind` on `site` (a DC's own etcd, vault, ...), if any."""
        return next((p for p in self.placements if p.kind == kind and p.site == site), None)

    def nearest(self, kind: str, site: str) -> Placement:
        """The local component of `kind`, else the first one anywhere (the external Atlas, say)."""
        local = self.local(kind, site)
        if local is not None:
            return local
        candidates = self.of_kind(kind)
        if not candidates:
            raise KeyError(f"topology {self.topology.name!r} has no {kind}")
        return candidates[0]

    def site_local(self, kind: str, role: str | None = None) -> str:
        """`kind:port` as every site resolves it to its own component of that kind (routes use it)."""
        ports = {p.ports[role] if role else p.port for p in self.of_kind(kind)}
        if len(ports) != 1:
            raise ValueError(f"{kind} listens on different ports per site ({sorted(ports)}): no site-local name")
        return f"{kind}:{ports.pop()}"

    def tls(self, kind: str, role: str | None = None) -> bool:
        """Whether the kind serves that role (its main one by default) over TLS (harness/kinds.py)."""
        p = self.of_kind(kind)[0]
        return p.role(role) in p.tls_roles

    def scheme(self, kind: str, role: str | None = None) -> str:
        return "https" if self.tls(kind, role) else "http"

    def network(self, site: str) -> str:
        return f"halab-{self.tag}-{site}"

    @property
    def wan_container(self) -> str:
        return f"{WAN_NAME}-{self.tag}"

    @property
    def ingress_container(self) -> str:
        return f"ingress-{self.tag}"

    @property
    def publish_network(self) -> str:
        return f"halab-{self.tag}-publish"


def _one_instance_per_node(topology: Topology) -> None:
    """The harness runs one instance of each component on its node; a spec asking for more
    would be measured as something it is not, so it is refused instead of silently shrunk."""
    more = {k: v for k, v in vars(topology.params.replicas).items() if v != 1}
    if more:
        asked = ", ".join(f"{k}={v}" for k, v in more.items())
        raise SpecError(f"replicas {asked}: the harness realises one instance per node; "
                        f"replicas other than 1 are for the simulation only (halab capacity --replicas)")
