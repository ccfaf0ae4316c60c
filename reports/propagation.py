"""`halab report --propagation BENCH.json`: the teaching page "where instant ends", from the
propagation benchmark's JSON (tests/system/policy_sync/test_propagation_benchmark.py).

Every figure is the put's start -> a changed OPA decision in that DC (the benchmark's
`decision`), the same clock as the watch floor (`floor_watch`: a bare etcd watch in that DC,
nothing there can know sooner). The model's prediction (`simulation.propagation`: `fit` over the
rows, then `predict` each row on the seed preset, seed 0) is of commit -> loaded, so the
model's own commit (`etcd.commit_rtt`) is added to it.

The goals, per DC: the data path's p99 within the watch floor's p99 + 10 ms; the Rego path's
p99 within 1.5 x (the watch floor's p99 + one compile of every module loaded, which is the
row's `opa_put_alone.compile` p50); the lag bounded (see `lag_bound`).

    >>> limit_ms("data", 4.0, 80.0), limit_ms("rego", 4.0, 80.0)
    (14.0, 126.0)
    >>> lag_bound("seq", 126.0), lag_bound("100", 126.0)
    (2, 14)
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.spec import preset
from reports.pages import render
from reports.plots import plt, svg
from scenarios.checkers.latency import percentile

SITES = ("dc1", "dc2")
MEASURE = "decision"  # put start -> changed decision, the watch floor's clock
INSTANT_MS = 10.0  # "instant": within the watch floor + this
REGO_FACTOR = 1.5
PRESET = "seed"
SEED = 0
# What every row needs, dotted; {dc} for each of SITES.
NEEDED = ("policies", "size", "rate", "updates", "lag_revisions_max.{dc}", "opa_put_alone.compile.p50_ms",
          "{dc}.floor_watch.p99_ms", f"{{dc}}.{MEASURE}.p50_ms", f"{{dc}}.{MEASURE}.p99_ms")


class NotABenchmark(FileNotFoundError):
    """The file is missing, is not the benchmark's JSON, or its rows lack what the page needs;
    the message names the file and what is missing. (A FileNotFoundError, as capacity's
    NotASweep: `halab report` turns it into a click error.)"""


def limit_ms(path: str, floor_p99_ms: float | None, compile_ms: float | None) -> float | None:
    """The goal's bound on a row's p99 (ms): data, the watch floor + 10 ms; Rego, 1.5 x (the
    watch floor + one compile at the row's policy count). None when a figure is missing."""
    if floor_p99_ms is None or (path != "data" and compile_ms is None):
        return None
    return floor_p99_ms + INSTANT_MS if path == "data" else REGO_FACTOR * (floor_p99_ms + compile_ms)


def lag_bound(rate: str, limit: float | None) -> int | None:
    """The most revisions policy_sync may trail by and still keep up: the one being activated,
    the one waiting behind it, and those the rate brings while an update is within its goal's
    bound (`limit`, ms). One at a time (`seq`), that is 2."""
    if rate == "seq":
        return 2
    if limit is None:
        return None
    return 2 + math.floor(float(rate) * limit / 1000.0)


def _get(row: dict, dotted: str) -> Any:
    v: Any = row
    for part in dotted.split("."):
        if not isinstance(v, dict) or part not in v:
            raise KeyError(dotted)
        v = v[part]
    return v


def _describe(row: dict) -> str:
    return f"{row.get('policies', '?')} policies, rate {row.get('rate', '?')}, {row.get('path', 'rego')}"


def load(path: str | Path) -> tuple[str, list[dict]]:
    """The benchmark's header and rows, each checked for what the page needs."""
    p = Path(path)
    if not p.is_file():
        raise NotABenchmark(f"{p}: no such file (the propagation benchmark writes reports/out/propagation.json)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NotABenchmark(f"{p}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise NotABenchmark(f"{p}: not a propagation benchmark: no \"rows\" list")
    rows = data["rows"]
    if not rows:
        raise NotABenchmark(f"{p}: no rows")
    problems = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            problems.append(f"row {i} is not an object")
            continue
        missing = []
        for need in NEEDED:
            for dotted in sorted({need.format(dc=dc) for dc in SITES}):
                try:
                    _get(row, dotted)
                except KeyError:
                    missing.append(dotted)
        for key in ("policies", "updates"):
            if key in row and (isinstance(row[key], bool) or not isinstance(row[key], int)):
                missing.append(f"a whole number of {key} (not {row[key]!r})")
        if row.get("path", "rego") not in ("rego", "data"):
            missing.append(f"a path of rego or data (not {row.get('path')!r})")
        if "rate" in row and row["rate"] != "seq":
            try:
                float(row["rate"])
            except (TypeError, ValueError):
                missing.append(f"a rate of seq or per second (not {row['rate']!r})")
        if missing:
            problems.append(f"row {i} ({_describe(row)}) lacks {', '.join(missing)}")
    if problems:
        raise NotABenchmark(f"{p}: " + "; ".join(problems))
    return str(data.get("header", "")), rows


@dataclass
class Row:
    policies: int
    size: str
    rate: str
    path: str
    updates: int
    compile_ms: float | None  # one compile with `policies` loaded (opa_put_alone.compile p50)
    measured: dict[str, tuple[float | None, float | None]]  # dc -> (p50, p99) ms
    floor: dict[str, float | None]  # dc -> floor_watch p99 ms
    lag: dict[str, int]
    not_loaded: int
    predicted: dict[str, tuple[float, float]] = field(default_factory=dict)  # dc -> (p50, p99) ms; empty: none
    activation: dict[str, float | None] = field(default_factory=dict)  # dc -> OPA's last rego_module_compile ms

    @property
    def series(self) -> tuple[str, str]:
        return self.path, self.rate

    def limit(self, dc: str) -> float | None:
        return limit_ms(self.path, self.floor[dc], self.compile_ms)

    def goal(self, dc: str) -> bool | None:
        """The row's p99 within its goal in `dc`; None when a figure is missing. No decision at
        all (nothing arrived) misses."""
        bound, p99 = self.limit(dc), self.measured[dc][1]
        if p99 is None:
            return False
        return None if bound is None else p99 <= bound

    def instant(self, dc: str) -> bool | None:
        """Within the watch floor + 10 ms in `dc` (the data path's goal, asked of any path)."""
        floor, p99 = self.floor[dc], self.measured[dc][1]
        if p99 is None:
            return False
        return None if floor is None else p99 <= floor + INSTANT_MS

    @property
    def lag_max(self) -> int:
        return max(self.lag.values())

    @property
    def lag_bound(self) -> int | None:
        limits = [x for x in (self.limit(dc) for dc in SITES) if x is not None]
        return lag_bound(self.rate, max(limits) if limits else None)

    @property
    def lag_ok(self) -> bool | None:
        if self.not_loaded:
            return False
        return None if self.lag_bound is None else self.lag_max <= self.lag_bound

    def error(self, dc: str) -> tuple[float | None, float | None]:
        """(predicted - measured) / measured in %, p50 and p99."""
        if dc not in self.predicted:
            return None, None
        return tuple(None if not m else (p - m) / m * 100.0  # type: ignore[return-value]
                     for m, p in zip(self.measured[dc], self.predicted[dc], strict=True))


def _opt(x: Any) -> float | None:
    return None if x is None else float(x)


def rows_of(raw: Iterable[dict]) -> list[Row]:
    out = []
    for r in raw:
        nl = r.get("not_loaded_after_drain") or {}
        out.append(Row(
            policies=int(r["policies"]), size=str(r["size"]), rate=str(r["rate"]), path=r.get("path", "rego"),
            updates=int(r["updates"]), compile_ms=_opt(r["opa_put_alone"]["compile"]["p50_ms"]),
            measured={dc: (_opt(r[dc][MEASURE]["p50_ms"]), _opt(r[dc][MEASURE]["p99_ms"])) for dc in SITES},
            floor={dc: _opt(r[dc]["floor_watch"]["p99_ms"]) for dc in SITES},
            lag={dc: int(r["lag_revisions_max"][dc]) for dc in SITES},
            not_loaded=sum(int(v or 0) for v in nl.values()) if isinstance(nl, dict) else 0,
            activation={dc: _opt(((r.get("last_activation_ms") or {}).get(dc) or {}).get("rego_module_compile"))
                        for dc in SITES}))
    return out


def predict_rows(raw: list[dict], rows: list[Row]) -> None:
    """Fill each 1 KB row's `predicted` from the model fitted to all of them (the fit is of
    1 KB policies; a larger one compiles as many more rules)."""
    from simulation.model import Model
    from simulation.propagation import fit, predict

    params = fit(raw)
    topo = preset(PRESET)
    commit_ms = Model(topo, params, seed=SEED).etcd.commit_rtt * 1000.0
    for row in rows:
        if row.size != "1k" or row.updates < 1:
            continue
        got = predict(topo, params, policies=row.policies, rate=row.rate, updates=row.updates, seed=SEED,
                      path=row.path)
        for dc in SITES:
            delays = sorted(got.get(dc, []))
            if delays:
                row.predicted[dc] = (commit_ms + percentile(delays, 50) * 1000.0,
                                     commit_ms + percentile(delays, 99) * 1000.0)


def _rate_key(rate: str) -> float:
    return 0.0 if rate == "seq" else float(rate)


def _series_label(path: str, rate: str) -> str:
    return f"{path}, " + ("one at a time" if rate == "seq" else f"{rate}/s")


def _by_count(values: Iterable[tuple[int, float | None]]) -> tuple[list[int], list[float]]:
    per: dict[int, list[float]] = {}
    for n, v in values:
        if v is not None:
            per.setdefault(n, []).append(v)
    xs = sorted(per)
    return xs, [statistics.median(per[n]) for n in xs]


def plot(rows: list[Row], dc: str) -> str:
    """p50 and p99 against policies loaded in `dc`: measured as markers, predicted as lines,
    one colour per (path, rate); the watch floor, the band within 10 ms of it ("instant") and
    the compile floor."""
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(9, 4.6))
    series = sorted({r.series for r in rows}, key=lambda s: (s[0] != "rego", _rate_key(s[1])))
    handles = []
    for i, (path, rate) in enumerate(series):
        colour = f"C{i}"
        these = sorted((r for r in rows if r.series == (path, rate)), key=lambda r: r.policies)
        for q, marker, ls in ((0, "o", ":"), (1, "^", "-")):
            pts = [(r.policies, r.measured[dc][q]) for r in these if r.measured[dc][q] is not None]
            ax.scatter([n for n, _ in pts], [max(v, 0.01) for _, v in pts], marker=marker, zorder=4,
                       facecolors="none" if q == 0 else colour, edgecolors=colour)
            pred = [(r.policies, r.predicted[dc][q]) for r in these if dc in r.predicted]
            if pred:  # a tick at each point, so a series of one row shows too
                ax.plot([n for n, _ in pred], [max(v, 0.01) for _, v in pred], ls=ls, marker="_", ms=12, color=colour,
                        lw=1.2)
        handles.append(Line2D([], [], color=colour, lw=6, alpha=0.8, label=_series_label(path, rate)))
    xs, floor = _by_count((r.policies, r.floor[dc]) for r in rows)
    if xs:
        ax.plot(xs, floor, color="k", lw=2, alpha=0.6)
        ax.fill_between(xs, floor, [f + INSTANT_MS for f in floor], color="k", alpha=0.08, lw=0)
    xs, comp = _by_count((r.policies, r.compile_ms) for r in rows)
    if xs:
        ax.plot(xs, [max(c, 0.01) for c in comp], color="#7d3c98", lw=1.5, ls="--")
    grey = "#444"
    handles += [Line2D([], [], ls="none", marker="o", mfc="none", color=grey, label="measured p50"),
                Line2D([], [], ls="none", marker="^", color=grey, label="measured p99"),
                Line2D([], [], ls=":", marker="_", ms=12, color=grey, label="predicted p50"),
                Line2D([], [], ls="-", marker="_", ms=12, color=grey, label="predicted p99"),
                Line2D([], [], color="k", lw=2, alpha=0.6, label="watch floor (p99)"),
                Line2D([], [], color="k", lw=8, alpha=0.08, label=f"instant: within {INSTANT_MS:.0f} ms of it"),
                Line2D([], [], color="#7d3c98", lw=1.5, ls="--", label="compile floor: one compile at N (p50)")]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("policies loaded")
    ax.set_ylabel("put start → changed decision (ms)")
    ax.set_title(f"{dc}: put start → changed decision against policies loaded")
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return svg(fig)


@dataclass(frozen=True)
class Instant:
    """Where "instant" ends: the counts of the Rego path's rows read, the largest count up to
    which every one of them is within the watch floor + 10 ms in both DCs (None: not even the
    smallest), and the first count past it (None: none measured)."""

    basis: str  # which Rego rows: "sequential" or "all"
    counts: list[int]
    worst: dict[int, tuple[float | None, float | None]]  # count -> (worst p99, its floor + 10 ms) over DCs and rows
    within: int | None
    beyond: int | None


def instant(rows: list[Row]) -> Instant | None:
    rego = [r for r in rows if r.path == "rego"]
    seq = [r for r in rego if r.rate == "seq"]
    basis, these = ("sequential", seq) if seq else ("all", rego)
    if not these:
        return None
    counts = sorted({r.policies for r in these})
    worst: dict[int, tuple[float | None, float | None]] = {}
    ok: dict[int, bool] = {}
    for n in counts:
        at = [(r, dc) for r in these if r.policies == n for dc in SITES]
        ok[n] = all(r.instant(dc) for r, dc in at)
        # the worst: the furthest past (or least within) its floor + 10 ms
        figures = [(r.measured[dc][1], r.floor[dc]) for r, dc in at]
        if any(p is None or f is None for p, f in figures):
            worst[n] = (None, None)
        else:
            p, f = max(figures, key=lambda x: x[0] - x[1])
            worst[n] = (p, f + INSTANT_MS)
    within = beyond = None
    for n in counts:
        if not ok[n]:
            beyond = n
            break
        within = n
    return Instant(basis, counts, worst, within, beyond)


def compile_at(rows: list[Row], n: int) -> float | None:
    xs = [r.compile_ms for r in rows if r.policies == n and r.compile_ms]
    return statistics.median(xs) if xs else None


def story(rows: list[Row]) -> dict[str, Any]:
    """The text's figures: where instant ends, the data path past it, the rates past which
    compiling each update alone falls behind."""
    at = instant(rows)
    counts = sorted({r.policies for r in rows})
    beyond = at.beyond if at else None
    rates = []
    for n in ([n for n in counts if n >= beyond] if beyond is not None else counts[-1:]):
        c = compile_at(rows, n)
        if c:
            rates.append({"policies": n, "compile_ms": c, "rate": 1000.0 / c, "wait_ms": 2 * c})
    data_past = []
    if beyond is not None:
        for r in rows:
            if r.path == "data" and r.policies >= beyond:
                worst = max(SITES, key=lambda dc: -math.inf if r.measured[dc][1] is None else r.measured[dc][1])
                data_past.append({"row": r, "dc": worst, "p99": r.measured[worst][1],
                                  "bound": None if r.floor[worst] is None else r.floor[worst] + INSTANT_MS,
                                  "instant": all(r.instant(dc) for dc in SITES)})
    return {"instant": at, "rates": rates, "data_past": data_past}


@dataclass(frozen=True)
class Written:
    html: Path


def build(benchmark: str | Path, out: str | Path | None = None) -> Written:
    """The page, `propagation.html` in `out` [the benchmark's directory]."""
    header, raw = load(benchmark)
    rows = rows_of(raw)
    try:
        predict_rows(raw, rows)
    except ValueError as exc:
        raise NotABenchmark(f"{benchmark}: the model cannot be fitted to it: {exc}") from None
    out = Path(out) if out else Path(benchmark).parent
    out.mkdir(parents=True, exist_ok=True)
    html = out / "propagation.html"
    html.write_text(render("propagation.html.j2", benchmark=str(benchmark), header=header, rows=rows, sites=SITES,
                           plots={dc: plot(rows, dc) for dc in SITES}, preset=PRESET, seed=SEED,
                           instant_ms=INSTANT_MS, rego_factor=REGO_FACTOR, **story(rows)), encoding="utf-8")
    return Written(html)
