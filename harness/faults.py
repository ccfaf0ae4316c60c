"""The fault kinds and how a fault's target resolves against a spec: plain data and one pure
function, shared by the nemesis (chaos/) and the SimPy model (simulation/failures.py).

Each kind has a lab package in chaos/faults/ and, if the model runs it (`in_model`), a model
package in simulation/faults/; tests/chaos/test_fault_registry.py holds both to this table.

    >>> from harness.spec import preset
    >>> t = resolve(preset("seed"), "site-down", "dc2")
    >>> t.sites, t.components[:3]
    (('dc2',), ('gateway2', 'cms2', 'opa2'))
    >>> resolve(preset("seed"), "partition", "dc1->dc2").directed
    (('dc1', 'dc2'),)
    >>> sorted(resolve(preset("seed"), "partition", "dc1,dc2").directed)
    [('dc1', 'dc2'), ('dc2', 'dc1')]
    >>> resolve(preset("seed"), "component-down", "dc9")
    Traceback (most recent call last):
    ...
    harness.faults.TargetError: component-down: no component or kind 'dc9' in seed; components: lb1, lb2, ...

Targets are names from the spec: a site, a node, a component or a kind (or a node: its components), a link "a,b" (both
ways), "a->b" (only a's connections to b: an asymmetric cut), or "a" (every link of a).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeVar

from harness.spec import Topology

T = TypeVar("T")
TargetType = Literal["site", "node", "component", "link", "none"]


@dataclass(frozen=True)
class FaultKind:
    name: str
    target: TargetType
    help: str
    options: dict[str, float | str] = field(default_factory=dict)  # defaults
    modelled: bool = False  # the SimPy model predicts it: `halab fidelity` and `explore` hold it to the lab
    # The model runs it though it is not `modelled`: flagging a restart so would also put it into
    # `halab explore`'s search and `halab fidelity`, a choice of their own.
    simulated: bool = False
    # What the teaching pages (reports/teaching.py) draw. A fault whose target names no component
    # of the kind it acts on is drawn on that kind, degraded, for `drawn_why` ({kind}, {target}).
    drawn_on: str = ""
    drawn_why: str = "{kind}"
    splits: bool = False  # a link fault that leaves the Raft voters on either side without the others

    @property
    def in_model(self) -> bool:
        """The SimPy model runs it: simulation/faults/ has its package."""
        return self.modelled or self.simulated


_TABLE = (
    FaultKind("site-down", "site", "every component of the site killed; its WAN proxies drop packets "
              "(mode=blackhole) or refuse connections (mode=reject)", {"mode": "blackhole"}, modelled=True),
    FaultKind("node-crash", "node", "every component of one node killed", modelled=True),
    FaultKind("component-down", "component", "a component (or every one of a kind) killed", modelled=True),
    FaultKind("pause", "component", "SIGSTOP: the process keeps its sockets but answers nothing (a grey failure)"),
    FaultKind("restart", "component", "stopped and started again, done once healthy and its gateways UP on every "
              "LB; they are drained on every LB first (drain=0: not); cpus=C starves the start to C cores",
              {"drain": 1.0, "cpus": 0.0}, simulated=True),
    FaultKind("partition", "link", "packets between sites dropped (a,b both ways; a->b only a's connections)",
              modelled=True, splits=True),
    FaultKind("latency", "link", "extra one-way latency and jitter on a link", {"latency_ms": 100.0, "jitter_ms": 0.0},
              modelled=True),
    FaultKind("bandwidth", "link", "a bandwidth cap on a link, KB/s", {"rate_kbps": 64.0}),
    FaultKind("flaky", "link", "connections reset after a timeout (reset_peer) and data sliced",
              {"reset_ms": 2000.0, "slice_bytes": 64.0}),
    FaultKind("packet-loss", "link", "random packet loss (iptables statistic; this kernel has no netem)",
              {"probability": 0.3}),
    FaultKind("etcd-leader-down", "none", "the etcd leader (asked of etcd at the fault's start) killed"),
    FaultKind("etcd-compact", "none", "etcd compacted to its current revision: watches behind it must resync",
              drawn_on="etcd"),
    FaultKind("bao-active-down", "none", "the active OpenBao node killed", drawn_on="vault"),
    FaultKind("bao-step-down", "none", "the active OpenBao node steps down", drawn_on="vault"),
    FaultKind("bao-sealed", "component", "an OpenBao node sealed"),
    FaultKind("mongo-unreachable", "site", "Atlas unreachable from one site's components", drawn_on="mongo",
              drawn_why="Atlas unreachable from {target}"),
    FaultKind("vault-unreachable", "component", "OpenBao unreachable from one gateway"),
    FaultKind("llm-errors", "none", "the LLM API answers 5xx", {"rate": 1.0, "status": 500}, drawn_on="llm"),
    FaultKind("llm-429", "none", "the LLM API answers 429 + Retry-After", {"rate": 1.0, "retry_after_s": 2}, drawn_on="llm"),
    FaultKind("llm-hang", "none", "the LLM API hangs", {"rate": 1.0}, drawn_on="llm"),
    FaultKind("cert-expired", "component", "its certificates replaced by expired ones (same names, the run's CA), then "
              "it restarted: every peer and client that checks it refuses it (a renewal missed)"),
    FaultKind("cert-foreign", "component", "its certificates replaced by ones from another CA (same names), then it "
              "restarted: its peers, its clients and the servers that ask for its certificate refuse it"),
    FaultKind("ca-rotate", "none", "the lab CA rotated while the platform runs: a new CA trusted beside the old "
              "everywhere, then every internal certificate reissued from it; each component takes it by a reload "
              "where its product can, else a restart a node at a time (gateways drained)"),
    FaultKind("key-rotation", "none", "the LLM key rotated in OpenBao and at the API (old key valid grace_s more)",
              {"grace_s": 30.0}, drawn_on="vault"),
)
FAULT_KINDS = {k.name: k for k in _TABLE}


def merge_packages(side: str, *families: dict[str, T]) -> dict[str, T]:
    """One registry from the family modules' (chaos/faults/, simulation/faults/): a kind
    registered twice is a mistake said at import, not a silent override.

    >>> merge_packages("lab", {"pause": 1}, {"restart": 2})
    {'pause': 1, 'restart': 2}
    >>> merge_packages("model", {"pause": 1}, {"pause": 2})
    Traceback (most recent call last):
    ...
    RuntimeError: fault kinds with two model packages: pause
    """
    out: dict[str, T] = {}
    for family in families:
        if twice := out.keys() & family.keys():
            raise RuntimeError(f"fault kinds with two {side} packages: {', '.join(sorted(twice))}")
        out.update(family)
    return out


class TargetError(ValueError):
    """A target the preset lacks; the message lists the valid names."""


@dataclass(frozen=True)
class Targets:
    """What a fault acts on. `directed` links are (client site, server site) pairs."""

    components: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    directed: tuple[tuple[str, str], ...] = ()


def fault_kind(name: str) -> FaultKind:
    try:
        return FAULT_KINDS[name]
    except KeyError:
        raise TargetError(f"unknown fault kind {name!r}; known: {', '.join(FAULT_KINDS)}") from None


def resolve(topo: Topology, kind: str, target: str) -> Targets:
    fk = fault_kind(kind)
    sites = [s.name for s in topo.sites]
    if fk.target == "site":
        if target not in sites:
            raise TargetError(f"{kind}: no site {target!r} in {topo.name}; sites: {', '.join(sites)}")
        return Targets(tuple(c.name for c in topo.site(target).components), (target,))
    if fk.target == "node":
        nodes = {n.name: n for s in topo.sites for n in s.nodes}
        if target not in nodes:
            raise TargetError(f"{kind}: no node {target!r} in {topo.name}; nodes: {', '.join(nodes)}")
        return Targets(tuple(c.name for c in nodes[target].components), (topo.site_of(nodes[target].components[0].name),))
    if fk.target == "component":
        nodes = {n.name: n for s in topo.sites for n in s.nodes}
        comps = nodes[target].components if target in nodes else [c for c in topo.components
                                                                   if target in (c.name, c.kind)]
        found = tuple(c.name for c in comps)
        if not found:
            names = ", ".join(c.name for c in topo.components)
            raise TargetError(f"{kind}: no component or kind {target!r} in {topo.name}; components: {names}")
        return Targets(found, tuple(dict.fromkeys(topo.site_of(n) for n in found)))
    if fk.target == "link":
        return Targets(directed=_links(topo, kind, target))
    return Targets()


def _links(topo: Topology, kind: str, target: str) -> tuple[tuple[str, str], ...]:
    sites = [s.name for s in topo.sites]
    one_way = "->" in target
    ends = [x.strip() for x in target.replace("->", ",").split(",") if x.strip()]
    bad = [e for e in ends if e not in sites]
    if bad or not 1 <= len(ends) <= 2:
        raise TargetError(f"{kind}: target {target!r} is not 'a,b', 'a->b' or 'a' with sites: "
                          f"{', '.join(sites)}")
    if len(ends) == 1:
        pairs = [(lk.a, lk.b) for lk in topo.links if ends[0] in (lk.a, lk.b)]
        return tuple(p for a, b in pairs for p in ((a, b), (b, a)))
    a, b = ends
    if topo.link(a, b) is None:
        raise TargetError(f"{kind}: no link {a}<->{b} in {topo.name}; links: "
                          f"{', '.join(f'{lk.a},{lk.b}' for lk in topo.links)}")
    return ((a, b),) if one_way else ((a, b), (b, a))
