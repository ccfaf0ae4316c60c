"""The topology spec: the single source of truth for what runs where.

Plain frozen dataclasses, no Docker types. `harness/topology` realises a spec as containers;
`simulation/` realises the same spec as a SimPy model. Neither keeps its own copy.

    >>> topo = preset("seed")
    >>> [s.name for s in topo.sites]
    ['edge', 'dc1', 'dc2', 'external']
    >>> [c.name for c in topo.components_of("etcd")]
    ['etcd1', 'etcd2']
    >>> topo.quorum_tolerance("etcd")      # two voters: losing either loses quorum
    0
    >>> preset("seed+witness").quorum_tolerance("etcd")
    1

Shape: a Topology holds Sites; a Site holds Nodes (hosts); a Node holds Components (one
process each, identified by a unique name and a `kind` from KINDS). Links join two sites and
carry the WAN properties; every cross-site connection crosses exactly one Link. Params hold
every tuning knob with the documented default beside it (see also simulation/params.py for
the service-time side).

Naming convention of the presets: a component's name is its kind plus the DC number
(`gateway1`, `etcd2`), the witness holds number 3; nodes are `<site>-<role>`.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

from harness import kinds as _kinds

# Every component kind either realisation knows: the one table in harness/kinds.py.
KINDS = frozenset(_kinds.KINDS)
# Kinds whose members form one Raft cluster across sites: writes need a majority.
QUORUM_KINDS = _kinds.quorum_kinds()
APP_KINDS = _kinds.of_tier("app")
DATA_KINDS = _kinds.of_tier("data")
# Who opens connections to whom (client kind -> server kinds). Two sites need a Link when a
# component on one talks to a component on the other; the harness puts a Toxiproxy proxy on
# each such connection, the model a WAN hop.
TALKS_TO = {k.name: k.talks_to for k in _kinds.KINDS.values() if k.talks_to}


class SpecError(ValueError):
    """A spec that cannot be realised; the message lists every problem found."""


class QuorumWarning(UserWarning):
    """A quorum group whose size buys no extra fault tolerance (an even number of voters)."""


# --- structure ------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """One process: `Component("etcd1", "etcd")`. Names are unique across the topology."""

    name: str
    kind: str


@dataclass(frozen=True)
class Node:
    """One host (one failure unit for `node-crash`). `role` is descriptive: app, data, lb, external."""

    name: str
    role: str
    components: tuple[Component, ...]


@dataclass(frozen=True)
class Site:
    """One failure domain (a DC, the witness, the managed outside world): `site-down` takes all of it."""

    name: str
    nodes: tuple[Node, ...]

    @property
    def components(self) -> tuple[Component, ...]:
        return tuple(c for n in self.nodes for c in n.components)


@dataclass(frozen=True)
class Link:
    """The WAN between two sites (symmetric). Latency and jitter are one-way, in ms.

    Realised as Toxiproxy proxies with latency/jitter toxics; in the model, a delay per hop.
    """

    a: str
    b: str
    latency_ms: float = 5.0
    jitter_ms: float = 1.0

    def joins(self, x: str, y: str) -> bool:
        return {x, y} == {self.a, self.b}


# --- parameters -----------------------------------------------------------------------


@dataclass(frozen=True)
class Timeouts:
    """Client-side timeouts and retries along the request path (seconds)."""

    connect_s: float = 1.0  # HAProxy `timeout connect 1s` (DESIGN section 5)
    upstream_s: float = 5.0  # gateway -> cms/rag/opa, rag -> mongo/vectordb
    llm_s: float = 30.0  # gateway -> LLM API; LLM answers take seconds
    request_s: float = 60.0  # the user's whole request at the LB (`timeout server`)
    retries: int = 2  # HAProxy `retries 2` + `option redispatch`


@dataclass(frozen=True)
class HealthCheck:
    """HAProxy server checks: `check inter 2s fall 3 rise 2` (HAProxy docs' defaults for inter/fall/rise),
    and, tuned, `fastinter 500ms` (checks while a server is failing or rising) and `timeout check 1s`
    (a check then connects within min(timeout connect, inter)); None: HAProxy's default (every check
    `inter` apart, a check may take `inter`), the naive LB's.

    >>> HealthCheck().detection_s, NAIVE_HEALTH.detection_s
    (6.0, 12.0)
    """

    inter_s: float = 2.0
    fall: int = 3
    rise: int = 2
    fastinter_s: float | None = 0.5
    timeout_s: float | None = 1.0

    def check_timeout_s(self, connect_s: float) -> float:
        """How long a check of a blackholed server takes to fail."""
        return self.inter_s if self.timeout_s is None else min(connect_s, self.inter_s)

    @property
    def detection_s(self) -> float:
        """Worst-case time from a dead server to DOWN (HAProxy schedules a check when the last one
        ended): up to `inter` to the first check, then `fall` failures, `fastinter` apart."""
        fail = self.check_timeout_s(Timeouts().connect_s)
        gap = self.inter_s if self.fastinter_s is None else self.fastinter_s
        return self.inter_s + fail + (self.fall - 1) * (gap + fail)


NAIVE_HEALTH = HealthCheck(fastinter_s=None, timeout_s=None)


@dataclass(frozen=True)
class LbTuning:
    """What HAProxy does about a gateway that stops answering, beyond its checks.

    flow_timeout_s: `timeout server` for /rag and /cms, just above the gateway's own upstream
        timeout (Timeouts.upstream_s), so a slower answer means a dead or frozen gateway, not a
        slow flow; None: Timeouts.request_s for every path (the naive LB: a request on a dead
        pooled connection waits 60 s).
    retry_reads: `retry-on conn-failure empty-response response-timeout` for RAG queries (reads,
        safe to send twice); writes are retried only when the connection failed (nothing sent).
    redispatch_interval: `option redispatch <n>`: a retry goes to another server every n-th
        time; 1: every retry (a dead gateway costs one connect timeout, as the model has it);
        -1, HAProxy's default: only the last retry (with `retries 2`, two connect timeouts).

    server_close: `option http-server-close`: a connection to a gateway serves one request, so
        no request is sent on a pooled connection opened before its gateway died, where it could
        only wait the flow timeout; each request pays a TCP handshake across the WAN instead.

    Not `on-marked-down shutdown-sessions`: measured with gateway2 killed, it cut 8-13 queries
    that were still connecting to the dead server when it was marked DOWN, which the connect
    timeout would have redispatched to DC1 within a second.
    """

    flow_timeout_s: float | None = 6.0
    retry_reads: bool = True
    redispatch_interval: int = 1
    server_close: bool = True


NAIVE_LB = LbTuning(flow_timeout_s=None, retry_reads=False, redispatch_interval=-1, server_close=False)


@dataclass(frozen=True)
class Vrrp:
    """keepalived VRRP: advert_int 1 s; priorities follow the order of the lb components."""

    advert_s: float = 1.0
    priorities: tuple[int, ...] = (150, 100)

    def failover_s(self, backup_priority: int | None = None) -> float:
        """RFC 5798 master-down interval: 3 * advert + skew, skew = (256 - priority) / 256 * advert."""
        p = backup_priority if backup_priority is not None else min(self.priorities)
        return 3 * self.advert_s + (256 - p) / 256 * self.advert_s


@dataclass(frozen=True)
class EtcdRaft:
    """etcd tuning docs (etcd.io/docs/v3.6/tuning): heartbeat 100 ms, election 1000 ms."""

    heartbeat_ms: float = 100.0
    election_ms: float = 1000.0


@dataclass(frozen=True)
class BaoRaft:
    """OpenBao integrated Raft: hashicorp/raft timings (heartbeat 1 s, election 1 s, leader lease
    0.5 s) multiplied by `performance_multiplier` (OpenBao/Vault default 5)."""

    performance_multiplier: int = 5
    base_heartbeat_s: float = 1.0
    base_election_s: float = 1.0
    base_lease_s: float = 0.5

    @property
    def election_s(self) -> float:
        return self.base_election_s * self.performance_multiplier

    @property
    def lease_s(self) -> float:
        return self.base_lease_s * self.performance_multiplier


@dataclass(frozen=True)
class KeyCache:
    """The gateway caches the LLM key from Vault: fresh for `ttl_s`, served stale up to `max_stale_s`
    while Vault is unreachable, then requests fail (never sent without the current key)."""

    ttl_s: float = 60.0
    max_stale_s: float = 300.0


@dataclass(frozen=True)
class PolicySync:
    """policy_sync: etcd watch, plus a full resync every `resync_s` and after each reconnect."""

    resync_s: float = 60.0
    reconnect_backoff_s: float = 1.0


@dataclass(frozen=True)
class VectorReplication:
    """Vector store replication: a write is acknowledged after `write_consistency` replicas
    (Qdrant's `write_consistency_factor`, default 1); reads go to the local replica."""

    write_consistency: int = 1
    replication_factor: int = 2


@dataclass(frozen=True)
class Replicas:
    """How many instances of each app service run per app node (the model's servers per station)."""

    gateway: int = 1
    cms: int = 1
    opa: int = 1
    policy_sync: int = 1
    rag: int = 1

    def of(self, kind: str) -> int:
        return getattr(self, kind, 1)


@dataclass(frozen=True)
class Params:
    timeouts: Timeouts = field(default_factory=Timeouts)
    health: HealthCheck = field(default_factory=HealthCheck)
    vrrp: Vrrp = field(default_factory=Vrrp)
    etcd: EtcdRaft = field(default_factory=EtcdRaft)
    bao: BaoRaft = field(default_factory=BaoRaft)
    key_cache: KeyCache = field(default_factory=KeyCache)
    policy_sync: PolicySync = field(default_factory=PolicySync)
    vector: VectorReplication = field(default_factory=VectorReplication)
    replicas: Replicas = field(default_factory=Replicas)
    lb: LbTuning = field(default_factory=LbTuning)


# --- the topology ---------------------------------------------------------------------


@dataclass(frozen=True)
class Topology:
    """A validated topology. Construction raises SpecError listing every problem."""

    name: str
    sites: tuple[Site, ...]
    links: tuple[Link, ...]
    params: Params = field(default_factory=Params)

    def __post_init__(self) -> None:
        problems = _errors(self)
        if problems:
            raise SpecError(f"topology {self.name!r} is invalid:\n  - " + "\n  - ".join(problems))

    # Look-ups both realisations need.
    @property
    def components(self) -> tuple[Component, ...]:
        return tuple(c for s in self.sites for c in s.components)

    def components_of(self, kind: str) -> tuple[Component, ...]:
        return tuple(c for c in self.components if c.kind == kind)

    def site(self, name: str) -> Site:
        for s in self.sites:
            if s.name == name:
                return s
        raise KeyError(f"no site {name!r}; sites: {', '.join(s.name for s in self.sites)}")

    def site_of(self, component: str) -> str:
        for s in self.sites:
            for n in s.nodes:
                if any(c.name == component for c in n.components):
                    return s.name
        raise KeyError(f"no component {component!r}")

    def node_of(self, component: str) -> str:
        for s in self.sites:
            for n in s.nodes:
                if any(c.name == component for c in n.components):
                    return n.name
        raise KeyError(f"no component {component!r}")

    def link(self, a: str, b: str) -> Link | None:
        """The link between two sites, or None for the same site (or no route)."""
        return next((lk for lk in self.links if lk.joins(a, b)), None)

    def app_sites(self) -> tuple[str, ...]:
        """Sites that serve users (hold a gateway), in order."""
        return tuple(s.name for s in self.sites if any(c.kind == "gateway" for c in s.components))

    def quorum_tolerance(self, kind: str) -> int:
        """How many voters of `kind` may fail with writes still available: (n - 1) // 2."""
        return (len(self.components_of(kind)) - 1) // 2

    @property
    def warnings(self) -> list[str]:
        out = []
        for kind in QUORUM_KINDS:
            n = len(self.components_of(kind))
            if n and n % 2 == 0:
                out.append(
                    f"{kind}: {n} voters (an even number) need a majority of {n // 2 + 1}, so they tolerate "
                    f"{self.quorum_tolerance(kind)} failure(s), no more than {n - 1} voter(s) would"
                    + ("; losing either site loses write quorum" if n == 2 else "")
                )
        return out

    def with_params(self, **changes) -> Topology:
        """A copy with some Params sections replaced: `topo.with_params(health=HealthCheck(inter_s=1))`."""
        return dataclasses.replace(self, params=dataclasses.replace(self.params, **changes))


def validate(topology: Topology) -> list[str]:
    """Emit a QuorumWarning per even quorum group and return the messages (errors already raised)."""
    for message in topology.warnings:
        warnings.warn(message, QuorumWarning, stacklevel=2)
    return topology.warnings


def _errors(t: Topology) -> list[str]:
    problems: list[str] = []
    site_names = [s.name for s in t.sites]
    node_names = [n.name for s in t.sites for n in s.nodes]
    comp_names = [c.name for c in t.components]
    for what, names in (("site", site_names), ("node", node_names), ("component", comp_names)):
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            problems.append(f"duplicate {what} name(s): {', '.join(dups)}")
    for c in t.components:
        if c.kind not in KINDS:
            problems.append(f"component {c.name!r} has unknown kind {c.kind!r}; known: {', '.join(sorted(KINDS))}")
    for s in t.sites:
        if not s.nodes:
            problems.append(f"site {s.name!r} has no nodes")
    for lk in t.links:
        for end in (lk.a, lk.b):
            if end not in site_names:
                problems.append(f"link {lk.a}<->{lk.b} names unknown site {end!r}")
        if lk.a == lk.b:
            problems.append(f"link {lk.a}<->{lk.b} joins a site to itself")
        if lk.latency_ms < 0 or lk.jitter_ms < 0:
            problems.append(f"link {lk.a}<->{lk.b} has a negative latency or jitter")
    pairs = [frozenset((lk.a, lk.b)) for lk in t.links]
    if len(set(pairs)) != len(pairs):
        problems.append("two links join the same pair of sites")
    # Every site must reach every other one, directly: the model and the proxies route one hop.
    for i, a in enumerate(site_names):
        for b in site_names[i + 1 :]:
            if frozenset((a, b)) not in pairs and _needs_link(t, a, b):
                problems.append(f"sites {a!r} and {b!r} talk to each other but no link joins them")
    if not t.components_of("gateway"):
        problems.append("no gateway: users have no way in")
    n_lb = len(t.components_of("lb"))
    if n_lb and len(t.params.vrrp.priorities) != n_lb:
        problems.append(f"vrrp.priorities has {len(t.params.vrrp.priorities)} entries for {n_lb} lb components")
    h = t.params.health
    if h.inter_s <= 0 or h.fall < 1 or h.rise < 1:
        problems.append("health check needs inter_s > 0, fall >= 1, rise >= 1")
    n_vec = len(t.components_of("vectordb"))
    if n_vec and not 1 <= t.params.vector.write_consistency <= n_vec:
        problems.append(f"vector.write_consistency must be within 1..{n_vec}")
    return problems


def _needs_link(t: Topology, a: str, b: str) -> bool:
    kinds_a = {c.kind for c in t.site(a).components}
    kinds_b = {c.kind for c in t.site(b).components}

    def talks(xs: set[str], ys: set[str]) -> bool:
        return any(y in TALKS_TO.get(x, ()) for x in xs for y in ys)

    return talks(kinds_a, kinds_b) or talks(kinds_b, kinds_a)


# --- presets --------------------------------------------------------------------------


def _dc(n: int) -> Site:
    app = Node(f"dc{n}-app", "app", tuple(Component(f"{k}{n}", k) for k in APP_KINDS))
    data = Node(f"dc{n}-data", "data", tuple(Component(f"{k}{n}", k) for k in DATA_KINDS))
    return Site(f"dc{n}", (app, data))


def _seed_sites() -> tuple[Site, ...]:
    # The LB pair sits in its own small site in front of both DCs: keepalived needs both
    # LBs on one network, and a DC outage should not take the entry point with it.
    edge = Site("edge", tuple(Node(f"edge-lb{i}", "lb", (Component(f"lb{i}", "lb"),)) for i in (1, 2)))
    external = Site(
        "external",
        (
            Node("external-atlas", "external", (Component("mongo", "mongo"),)),
            Node("external-llm", "external", (Component("llm", "llm"),)),
        ),
    )
    return (edge, _dc(1), _dc(2), external)


def _seed_links(extra_sites: tuple[str, ...] = ()) -> tuple[Link, ...]:
    links = [
        Link("edge", "dc1", latency_ms=1.0, jitter_ms=0.2),
        Link("edge", "dc2", latency_ms=1.0, jitter_ms=0.2),
        Link("dc1", "dc2", latency_ms=5.0, jitter_ms=1.0),  # metro-distance DCs
        Link("dc1", "external", latency_ms=10.0, jitter_ms=2.0),  # managed Atlas + LLM API
        Link("dc2", "external", latency_ms=10.0, jitter_ms=2.0),
    ]
    for s in extra_sites:
        # The witness holds only voters: it talks to the DCs (Raft, and app clients of etcd), no one else.
        links += [Link(s, "dc1", latency_ms=8.0, jitter_ms=1.5), Link(s, "dc2", latency_ms=8.0, jitter_ms=1.5)]
    return tuple(links)


def seed() -> Topology:
    """Exactly the architecture of DESIGN section 1: two DCs, external Atlas and LLM, an LB pair."""
    return Topology("seed", _seed_sites(), _seed_links())


def seed_witness() -> Topology:
    """`seed` plus a small third site holding a third etcd, vault and vectordb voter."""
    witness = Site("witness", (Node("witness-data", "data", tuple(Component(f"{k}3", k) for k in DATA_KINDS)),))
    edge, dc1, dc2, external = _seed_sites()
    return Topology("seed+witness", (edge, dc1, dc2, witness, external), _seed_links(("witness",)))


def seed_etcd_tuned() -> Topology:
    """`seed` with etcd tuned for a slow WAN (etcd's tuning guide: a heartbeat about the
    round trip, 100 +- 50 ms each way here, and an election timeout ten times that)."""
    return dataclasses.replace(seed(), name="seed+etcd-tuned").with_params(
        etcd=EtcdRaft(heartbeat_ms=300.0, election_ms=3000.0))


def seed_naive_lb() -> Topology:
    """`seed` behind HAProxy as first configured, kept for teaching: checks every 2 s that may each
    take 2 s, `timeout server` 60 s on every path, retries only on connection failures."""
    return dataclasses.replace(seed(), name="seed+naive-lb").with_params(health=NAIVE_HEALTH, lb=NAIVE_LB)


PRESETS = {"seed": seed, "seed+witness": seed_witness, "seed+etcd-tuned": seed_etcd_tuned,
           "seed+naive-lb": seed_naive_lb}


def preset(name: str) -> Topology:
    """The named preset topology; unknown names raise SpecError listing the known ones."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise SpecError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None
