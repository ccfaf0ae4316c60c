"""The one table of component kinds: what each kind is, how it listens, replicates, is probed,
restarted and made ready again. Docker-free data; the spec, the plan, the WAN, the images,
`halab status`, the nemesis and the SimPy model all read it instead of keeping lists.

    >>> dict(KINDS["etcd"].ports), KINDS["etcd"].quorum, KINDS["vectordb"].quorum
    ({'client': 2379, 'peer': 2380, 'metrics': 2381}, True, False)
    >>> KINDS["vault"].after_restart, KINDS["llm"].image
    ('unseal', 'llm_stub')
    >>> quorum_kinds()
    ('etcd', 'vault')

This is testcontainers' one-module-per-kind written as data: adding a kind is a row here plus
its own modules (container class, start recipe, image recipe, model station).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Replication = Literal["raft", "leaderless", "none"]


@dataclass(frozen=True)
class Probe:
    """How a component says it is healthy: a GET on one of its ports, or a TCP connect.

    `states` names the answers worth telling apart (OpenBao: active, standby, sealed).
    """

    role: str
    path: str | None = "/healthz"  # None: a TCP connect is the whole signal
    ok: tuple[int, ...] = (200,)
    states: Mapping[int, str] = field(default_factory=dict)
    json_field: tuple[str, str] | None = None  # (field, value) the body must hold, as etcd's {"health": "true"}


@dataclass(frozen=True)
class Kind:
    """One component kind.

    tier:          where the presets put it (app and data nodes of each DC, lb, external)
    ports:         port role -> default port; the first role is the main one
    image:         its component name in harness/images (`halab images build NAME`)
    built:         the image halab builds for it (harness/images/catalog.py's IMAGES; the
                   platform's own services share `python`)
    official:      the upstream image that stands in where a registry is reachable
    container:     its testcontainers class in harness.containers, when it has its own
    module:        `python -m system.<module>` for the platform's own services
    replication:   raft (writes need a majority), leaderless (no majority: a write succeeds on
                   the replicas it reaches), or none
    peer_roles:    the ports Raft-style peers or replicas dial
    talks_to:      the kinds its clients open connections to
    failover:      its clients also dial other sites' members (the hairpin, vector failover)
    after_restart: what it needs after a restart before it serves again (OpenBao: unseal)
    starts_late:   started once earlier phases hand it credentials
    metrics:       (port role, path) Prometheus scrapes (`halab up --with-metrics`); None: none
    tls:           the port roles it serves over TLS with a certificate from the run's CA
                   (issue 28: the request path, and etcd); every client checks its names
    mutual:        its TLS listeners ask every client for a certificate from the run's CA
                   (inside the datacenters); not the VIP (users) nor the LLM (an external
                   API any key holder may call), nor "Atlas" (a managed service: TLS that
                   authenticates the server); etcd is mutual through its own flags
    outside_ca:    its certificate comes from the outside's CA, not the company's: the VIP's
                   (a public CA's, which users trust), "Atlas"'s and the LLM's (their
                   providers'). Rotating the internal CA leaves them alone (chaos/faults/rotation.py)
    """

    name: str
    tier: Literal["app", "data", "lb", "external", "lab"]
    ports: Mapping[str, int]
    image: str
    probe: Probe
    built: str = "python"
    official: str | None = None
    container: str | None = None
    module: str | None = None
    replication: Replication = "none"
    peer_roles: tuple[str, ...] = ()
    peer_words: str = ""
    talks_to: tuple[str, ...] = ()
    failover: bool = False
    shared_port: bool = False
    after_restart: str | None = None
    starts_late: bool = False
    metrics: tuple[str, str] | None = None
    tls: tuple[str, ...] = ()
    mutual: bool = False
    outside_ca: bool = False

    @property
    def quorum(self) -> bool:
        return self.replication == "raft"

    @property
    def replicated(self) -> bool:
        return self.replication != "none"

    @property
    def health(self) -> str:
        """What `halab images check` waits for, in words."""
        if self.module:
            return f"/healthz of `python -m system.{self.module}`"
        if self.probe.role == "monitor":
            return "haproxy -c on a config, then HAProxy's monitor-uri"
        return f"GET {self.probe.path}" if self.probe.path else "a TCP connect, then its own client's ping"


def _ports(**ports: int) -> Mapping[str, int]:
    return MappingProxyType(dict(ports))


# The versions of what halab builds from source (harness/images/catalog.py's recipes).
ETCD_VERSION = "v3.6.16"
OPA_VERSION = "v1.22.4"
TOXIPROXY_VERSION = "v2.12.0"
FERRETDB_VERSION = "v1.24.2"
OPENBAO_VERSION = "2.7.2"
PROMETHEUS_DEB = "2.42.0+ds-5+deb12u1"  # bookworm's prometheus package (the lab's metrics server)
QDRANT_VERSION = "v1.15.5"  # the official image whose API system.vectordb speaks (contract tests)

_HTTP = _ports(http=8000)
_SERVICE = Probe("http")
_METRICS = ("http", "/metrics")
_TLS = ("http",)

_TABLE = (
    Kind("lb", "lb", _ports(http=80), "lb", Probe("monitor"), built="base", talks_to=("gateway",), shared_port=True,
         metrics=("monitor", "/metrics"), tls=_TLS, outside_ca=True),
    Kind("gateway", "app", _ports(http=8000, admin=9180), "gateway", _SERVICE, module="gateway", failover=True, starts_late=True, metrics=_METRICS,
         talks_to=("cms", "rag", "opa", "etcd", "vault", "llm"), tls=("http", "admin"), mutual=True),
    Kind("cms", "app", _HTTP, "cms", _SERVICE, module="cms", talks_to=("mongo", "etcd"),
         metrics=_METRICS, tls=_TLS, mutual=True),
    Kind("opa", "app", _ports(http=8181), "opa", Probe("http", "/health"), built="opa",
         official=f"openpolicyagent/opa:{OPA_VERSION[1:]}", container="OpaContainer", metrics=_METRICS, tls=_TLS, mutual=True,
         talks_to=("policy_sync",)),  # its bundle, long-polled, and its status reports
    Kind("policy_sync", "app", _HTTP, "policy_sync", _SERVICE, module="policy_sync", talks_to=("etcd", "opa"),
         metrics=_METRICS, tls=_TLS, mutual=True),
    # gateway: the hairpin call with the enriched prompt
    Kind("rag", "app", _HTTP, "rag", _SERVICE, module="rag", talks_to=("mongo", "vectordb", "gateway"),
         metrics=_METRICS, tls=_TLS, mutual=True),
    # metrics: etcd's plaintext listener for /health and /metrics only (client and peer are mutual TLS).
    Kind("etcd", "data", _ports(client=2379, peer=2380, metrics=2381), "etcd",
         Probe("metrics", "/health", (200,), json_field=("health", "true")), built="etcd",
         official=f"quay.io/coreos/etcd:{ETCD_VERSION}", container="EtcdContainer",
         replication="raft", peer_roles=("peer",), peer_words="etcd Raft peers", talks_to=("etcd",), failover=True,
         metrics=("metrics", "/metrics"), tls=("client", "peer")),
    # OpenBao's API for `raft join` and request forwarding, its cluster port for Raft itself.
    Kind("vault", "data", _ports(api=8200, cluster=8201), "vault",
         Probe("api", "/v1/sys/health", (200, 429), {200: "active", 429: "standby", 503: "sealed",
                                                   501: "not initialised"}),
         built="vault", official=f"openbao/openbao:{OPENBAO_VERSION}", container="BaoContainer",
         replication="raft", peer_roles=("api", "cluster"), peer_words="OpenBao Raft", talks_to=("vault",),
         after_restart="unseal", metrics=("api", "/v1/sys/metrics?format=prometheus"), tls=("api",), mutual=True),
    # Full-mesh log shipping with a write consistency (default 1): no leader, no majority.
    Kind("vectordb", "data", _HTTP, "vectordb", _SERVICE, module="vectordb", official=f"qdrant/qdrant:{QDRANT_VERSION}",
         replication="leaderless", peer_roles=("http",), peer_words="vector replication", talks_to=("vectordb",),
         failover=True, metrics=_METRICS, tls=_TLS, mutual=True),
    # TLS as Atlas's "Secure Connection" (server authentication; Atlas's clients log in by SCRAM).
    Kind("mongo", "external", _ports(mongo=27017), "mongo", Probe("mongo", None), built="mongo", official="mongo:7",
         container="FerretDBContainer", tls=("mongo",), outside_ca=True),
    # HTTPS, as an external API is.
    Kind("llm", "external", _HTTP, "llm_stub", _SERVICE, module="llm_stub", metrics=_METRICS, tls=_TLS, outside_ca=True),
)
# The lab's own instruments: images and checks like a kind's, never part of a topology.
INSTRUMENTS = (
    Kind("toxiproxy", "lab", _ports(http=8474), "toxiproxy", Probe("http", "/version"), built="toxiproxy",
         official=f"ghcr.io/shopify/toxiproxy:{TOXIPROXY_VERSION[1:]}", container="ToxiproxyContainer"),
    # `halab up --with-metrics`: scrapes every component of every site.
    Kind("prometheus", "lab", _ports(http=9090), "prometheus", Probe("http", "/-/ready"), built="prometheus",
         official="prom/prometheus:v2.42.0", container="PrometheusContainer"),
)

KINDS: Mapping[str, Kind] = MappingProxyType({k.name: k for k in _TABLE})
# The lb's HAProxy monitor frontend (harness/containers/haproxy.py adds it to every config).
MONITOR_PORT = 8405


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown kind {name!r}; known: {', '.join(KINDS)}") from None


def of_tier(tier: str) -> tuple[str, ...]:
    return tuple(k.name for k in _TABLE if k.tier == tier)


def quorum_kinds() -> tuple[str, ...]:
    return tuple(k.name for k in _TABLE if k.quorum)


def replicated_kinds() -> tuple[str, ...]:
    return tuple(k.name for k in _TABLE if k.replicated)


def probe_port(k: Kind, ports: Mapping[str, int]) -> int:
    """The port a probe dials: one of the component's own, or the LB's monitor."""
    return role_port(k.probe.role, ports)


def role_port(role: str, ports: Mapping[str, int]) -> int:
    return MONITOR_PORT if role == "monitor" else ports[role]
