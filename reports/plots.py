"""Figures drawn with matplotlib (Agg) and returned as inline SVG text, so a page needs no file
or network beside it."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from reports.timeline import FaultWindow, Window
from reports.tracks import NO_LEADER, Load, Segment

FAULT_COLOUR = "#f4a6a6"
plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "halab"})  # same input, same SVG


def svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # the XML prologue and DOCTYPE cannot sit inside HTML


def shade(ax, faults: list[FaultWindow], end_s: float, label: bool = True) -> None:
    for i, fw in enumerate(faults):
        ax.axvspan(fw.start_s, fw.stop_s if fw.stop_s is not None else end_s, color=FAULT_COLOUR, alpha=0.35, lw=0,
                   label=f"fault: {fw.kind} {fw.target}" if label and i == 0 else None)


def _series(ws: list[Window], attr: str, scale: float = 1.0, width_s: float = 1.0) -> tuple[list[float], list[float]]:
    """The windows' values; a window without one breaks the line (NaN) rather than bridging it."""
    xs: list[float] = []
    ys: list[float] = []
    for w in ws:
        v = getattr(w, attr)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            v = math.nan
        elif xs and w.start_s - xs[-1] > width_s * 1.5:
            xs.append(xs[-1] + width_s)  # an empty window: nothing was measured there
            ys.append(math.nan)
        xs.append(w.start_s)
        ys.append(v if math.isnan(v) else v * scale)
    return xs, ys


def timeline(flow: str, measured: list[Window], predicted: list[Window] | None, faults: list[FaultWindow],
             end_s: float) -> str:
    """Success rate and latency p50/p95/p99 of one flow per window; the prediction dashed over it."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.6), sharex=True, gridspec_kw={"height_ratios": [1, 1.4]})
    for ax in (top, bottom):
        shade(ax, faults, end_s, label=ax is top)
    top.step(*_series(measured, "success"), where="post", color="C0", label="measured")
    if predicted is not None:
        top.step(*_series(predicted, "success"), where="post", color="C1", ls="--", label="predicted")
    top.set_ylim(-0.05, 1.05)
    top.set_ylabel("success rate")
    top.set_title(f"{flow}, per 1 s window")
    top.legend(loc="lower left", fontsize=7)
    for q, colour in (("p50", "C0"), ("p95", "C2"), ("p99", "C3")):
        bottom.plot(*_series(measured, q, 1000.0), color=colour, lw=1, label=f"{q} measured")
        if predicted is not None:
            bottom.plot(*_series(predicted, q, 1000.0), color=colour, lw=1, ls="--", label=f"{q} predicted")
    bottom.set_ylabel("latency (ms), ok ops")
    bottom.set_xlabel("seconds since the run's start")
    bottom.set_yscale("log")
    bottom.legend(loc="upper left", fontsize=7, ncol=2)
    return svg(fig)


def dropped(measured: dict[str, list[Window]], faults: list[FaultWindow], end_s: float) -> str | None:
    """Dropped arrivals per window, all flows; None when the run dropped none."""
    per: dict[float, int] = {}
    for ws in measured.values():
        for w in ws:
            per[w.start_s] = per.get(w.start_s, 0) + w.dropped
    if not any(per.values()):
        return None
    fig, ax = plt.subplots(figsize=(9, 1.8))
    shade(ax, faults, end_s)
    xs = sorted(per)
    ax.bar(xs, [per[x] for x in xs], width=1.0, align="edge", color="C3")
    ax.set_ylabel("dropped arrivals")
    ax.set_xlabel("seconds since the run's start")
    return svg(fig)


def propagation(measured: dict[str, list[Load]], predicted: dict[str, list[Load]] | None, faults: list[FaultWindow],
                end_s: float) -> str | None:
    """Each policy load per DC: when it reached that DC's OPA and how long after its put; the
    prediction hollow. None when neither history loaded a policy."""
    if not measured and not predicted:
        return None
    fig, ax = plt.subplots(figsize=(9, 2.2))
    shade(ax, faults, end_s)
    for i, site in enumerate(sorted(set(measured) | set(predicted or {}))):
        xs = measured.get(site, [])
        ax.scatter([x.time_s for x in xs], [max(x.delay_s, 1e-4) * 1000 for x in xs], s=12, color=f"C{i}",
                   label=f"{site} measured")
        if predicted is not None:
            ps = predicted.get(site, [])
            ax.scatter([x.time_s for x in ps], [max(x.delay_s, 1e-4) * 1000 for x in ps], s=16, facecolors="none",
                       edgecolors=f"C{i}", label=f"{site} predicted")
    ax.set_yscale("log")
    ax.set_ylabel("put → OPA (ms)")
    ax.set_xlabel("seconds since the run's start")
    ax.set_xlim(0, end_s)
    ax.set_title("policy convergence: each load per DC")
    ax.legend(loc="upper left", fontsize=7, ncol=4)
    return svg(fig)


_GOOD, _BAD = "#7fbf7f", "#d9534f"


def states(measured: dict[str, list[Segment]], predicted: dict[str, list[Segment]] | None, faults: list[FaultWindow],
           end_s: float) -> str | None:
    """HAProxy's view of each server and each Raft group's leader over time, one row per
    track: the measurement as a wide bar, the prediction as a thin one beneath it."""
    names = sorted(set(measured) | set(predicted or {}))
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(names) + 0.9))
    shade(ax, faults, end_s)
    for row, name in enumerate(reversed(names)):
        for segs, y, h, label in ((measured.get(name, []), row + 0.1, 0.55, True),
                                  ((predicted or {}).get(name, []), row - 0.25, 0.25, False)):
            for s in segs:
                bad = s.state in ("down", NO_LEADER)
                ax.broken_barh([(s.start_s, s.stop_s - s.start_s)], (y, h), color=_BAD if bad else _GOOD, lw=0)
                if label and s.stop_s - s.start_s > end_s / 12:
                    ax.text((s.start_s + s.stop_s) / 2, y + h / 2, s.state, ha="center", va="center", fontsize=7)
    ax.set_yticks([r + 0.2 for r in range(len(names))], list(reversed(names)))
    ax.set_xlim(0, end_s)
    ax.set_xlabel("seconds since the run's start" + ("; thin bars: the prediction" if predicted is not None else ""))
    ax.set_title("HAProxy server state and Raft leadership")
    return svg(fig)
