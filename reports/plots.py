"""Figures drawn with matplotlib (Agg) and returned as inline SVG text, so a page needs no file
or network beside it."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from reports.timeline import FaultWindow, Window

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


def _series(ws: list[Window], attr: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for w in ws:
        v = getattr(w, attr)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            xs.append(w.start_s)
            ys.append(v * scale)
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
