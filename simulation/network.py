"""The WAN: which sites can reach which, and how long a one-way hop takes.

Built from the spec's Links. A hop inside a site is a fixed small delay; across a link it is
the link's latency plus uniform jitter (what a Toxiproxy latency toxic with jitter does).
Faults cut links, add latency, or take sites and components down; every change bumps
`epoch`, so callers can cache decisions until the next change.

    >>> import random
    >>> from harness.spec import preset
    >>> net = Network(preset("seed"), random.Random(0), intra_hop_s=0.0001)
    >>> net.reachable("dc1", "dc2"), net.cut("dc1", "dc2"), net.reachable("dc1", "dc2")
    (True, None, False)
"""

from __future__ import annotations

import random

from harness.spec import Topology


class Network:
    def __init__(self, topo: Topology, rng: random.Random, intra_hop_s: float) -> None:
        self.topo = topo
        self.rng = rng
        self.intra_hop_s = intra_hop_s
        self.sites = [s.name for s in topo.sites]
        self.site_up = {s: True for s in self.sites}
        # (a, b) and (b, a) -> [latency_s, jitter_s]; one list shared by both directions.
        self.links: dict[tuple[str, str], list[float]] = {}
        self.base: dict[tuple[str, str], tuple[float, float]] = {}
        for lk in topo.links:
            value = [lk.latency_ms / 1000.0, lk.jitter_ms / 1000.0]
            self.links[(lk.a, lk.b)] = self.links[(lk.b, lk.a)] = value
            self.base[(lk.a, lk.b)] = self.base[(lk.b, lk.a)] = tuple(value)
        self.cuts: set[frozenset[str]] = set()
        self.epoch = 0
        self._reach: dict[tuple[str, str], bool] = {}
        self._changed()

    # --- queries -------------------------------------------------------------------------

    def reachable(self, a: str, b: str) -> bool:
        # Asked on every hop of every request; answered from a table rebuilt on each change.
        return self._reach[(a, b)]

    def _changed(self) -> None:
        self.epoch += 1
        up = self.site_up
        self._reach = {(a, b): up[a] and up[b] and (a == b or ((a, b) in self.links and frozenset((a, b)) not in self.cuts))
                       for a in self.sites for b in self.sites}

    def hop(self, a: str, b: str) -> float:
        """One-way delay from site a to site b (assumes reachable)."""
        if a == b:
            return self.intra_hop_s
        latency, jitter = self.links[(a, b)]
        if jitter:
            return max(0.0, latency + jitter * (2.0 * self.rng.random() - 1.0))
        return latency

    def rtt(self, a: str, b: str) -> float:
        """A round trip a -> b -> a: two independent one-way hops, drawn in one call."""
        if a == b:
            return 2 * self.intra_hop_s
        latency, jitter = self.links[(a, b)]
        if jitter:
            r = self.rng.random
            return max(0.0, latency + jitter * (2.0 * r() - 1.0)) + max(0.0, latency + jitter * (2.0 * r() - 1.0))
        return 2 * latency

    def mean_rtt(self, a: str, b: str) -> float:
        return 2 * (self.intra_hop_s if a == b else self.links[(a, b)][0])

    # --- changes (faults) ----------------------------------------------------------------

    def cut(self, a: str, b: str) -> None:
        self.cuts.add(frozenset((a, b)))
        self._changed()

    def heal(self, a: str, b: str) -> None:
        self.cuts.discard(frozenset((a, b)))
        self._changed()

    def set_site(self, site: str, up: bool) -> None:
        self.site_up[site] = up
        self._changed()

    def add_latency(self, a: str, b: str, latency_s: float, jitter_s: float) -> None:
        link = self.links[(a, b)]
        link[0] += latency_s
        link[1] += jitter_s
        self.epoch += 1

    def reset_latency(self, a: str, b: str) -> None:
        self.links[(a, b)][:] = self.base[(a, b)]
        self.epoch += 1
