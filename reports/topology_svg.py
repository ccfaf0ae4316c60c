"""The topology drawn from the spec (sites, nodes, components, WAN links) as inline SVG, with
what the scenario's faults act on marked in red (resolved by harness/faults.py, as the
nemesis and the model resolve them)."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from harness.faults import TargetError, resolve
from harness.scenario import Scenario
from harness.spec import Topology
from reports.plots import plt, svg

FAULT = "#c0392b"
SITE_W, LINE_H, GAP = 2.6, 0.32, 0.9


@dataclass(frozen=True)
class Marked:
    components: frozenset[str]
    sites: frozenset[str]
    links: frozenset[frozenset[str]]


def marked(topo: Topology, scenario: Scenario) -> Marked:
    comps, sites, links = set(), set(), set()
    for fault in scenario.faults:
        try:
            t = resolve(topo, fault.kind, fault.target)
        except TargetError:
            continue  # a target this preset lacks marks nothing; the report still draws the rest
        comps.update(t.components)
        sites.update(t.sites)
        links.update(frozenset(p) for p in t.directed)
    return Marked(frozenset(comps), frozenset(sites), frozenset(links))


def draw(topo: Topology, scenario: Scenario | None = None) -> str:
    m = marked(topo, scenario) if scenario else Marked(frozenset(), frozenset(), frozenset())
    heights = {s.name: sum(1 + len(n.components) for n in s.nodes) * LINE_H + 0.5 for s in topo.sites}
    top = max(heights.values())
    fig, ax = plt.subplots(figsize=(1.0 + 2.9 * len(topo.sites), 1.8 + top * 1.1))
    centre = {}
    for i, site in enumerate(topo.sites):
        x0 = i * (SITE_W + GAP)
        y0 = top - heights[site.name]
        hit = site.name in m.sites
        ax.add_patch(FancyBboxPatch((x0, y0), SITE_W, heights[site.name], boxstyle="round,pad=0.05",
                                    fc="#fdecea" if hit else "#eef3f8", ec=FAULT if hit else "#5b7a99", lw=2 if hit else 1))
        ax.text(x0 + SITE_W / 2, top + 0.15, site.name, ha="center", va="bottom", weight="bold",
                color=FAULT if hit else "black")
        centre[site.name] = (x0 + SITE_W / 2, top + 0.55)
        y = top - 0.3
        for node in site.nodes:
            ax.text(x0 + 0.12, y, f"{node.name} ({node.role})", va="center", style="italic", color="#333")
            y -= LINE_H
            for c in node.components:
                hit_c = c.name in m.components
                ax.text(x0 + 0.35, y, ("✕ " if hit_c else "• ") + f"{c.name}", va="center",
                        color=FAULT if hit_c else "black", weight="bold" if hit_c else "normal")
                y -= LINE_H
    for k, link in enumerate(topo.links):
        (xa, ya), (xb, yb) = sorted((centre[link.a], centre[link.b]))  # left to right: every arc bows upwards
        hit = frozenset((link.a, link.b)) in m.links
        rad = -0.25 - 0.05 * (k % 3)
        ax.add_patch(FancyArrowPatch((xa, ya), (xb, yb), connectionstyle=f"arc3,rad={rad}", arrowstyle="-",
                                     color=FAULT if hit else "#888", lw=2.2 if hit else 1.0, ls="--" if hit else "-"))
        ax.text((xa + xb) / 2, ya + abs(xb - xa) * abs(rad) / 2 + 0.05, f"{link.latency_ms:g} ms",
                ha="center", fontsize=7, color=FAULT if hit else "#555")
    ax.set_xlim(-0.3, len(topo.sites) * (SITE_W + GAP))
    ax.set_ylim(-0.3, top + 0.6 + 0.45 * (len(topo.sites) - 1) * (SITE_W + GAP) / 2)
    ax.set_axis_off()
    ax.set_title(f"{topo.name}: sites, nodes, components and WAN links" + ("  (red: the fault's targets)" if scenario
                                                                           and scenario.faults else ""))
    return svg(fig)
