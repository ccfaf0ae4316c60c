"""Teaching pages, one per catalogue scenario: the flow's sequence diagram (the 14-step query,
the 9-step policy update, after simulation/flows.py) with the steps the fault breaks marked,
the catalogue's own explanation, and its expectations on each preset side by side.

A step is marked from the spec, not by hand: *fails* where the fault leaves its callee with no
instance (or, for the Raft stores, without a majority of voters), *degraded* where some
instances are gone (HAProxy retries and redispatches, the key cache covers, until detection).

    >>> from harness.spec import preset
    >>> from harness.scenario import Fault
    >>> marks(preset("seed"), (Fault("site-down", "dc2", 10, 35),))["etcd"][0]
    'fails'
    >>> marks(preset("seed+witness"), (Fault("site-down", "dc2", 10, 35),))["etcd"][0]
    'degraded'
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from harness.faults import TargetError, fault_kind, resolve
from harness.scenario import Fault
from harness.spec import SpecError, Topology, preset
from reports import headline, rundir
from reports import verdicts as verdicts_of
from reports.pages import render
from reports.plots import plt, svg
from reports.run_report import build as build_run
from scenarios.catalogue import CATALOGUE, Entry
from scenarios.checkers import HUNG_S

PARTICIPANTS = ("user", "lb", "gateway", "opa", "rag", "mongo", "vectordb", "vault", "llm", "cms", "etcd", "policy_sync")
QUORUM = ("etcd", "vault")
# (caller, callee, what): DESIGN section 1, as simulation/flows.py numbers them.
QUERY = (("user", "lb", "query to the VIP"), ("lb", "gateway", "key-auth"), ("gateway", "opa", "authorise"),
         ("gateway", "rag", "route"), ("rag", "mongo", "profile, metadata"), ("rag", "rag", "embed the query"),
         ("rag", "vectordb", "context"), ("rag", "gateway", "enriched prompt (hairpin)"),
         ("gateway", "vault", "LLM key (or key cache)"), ("gateway", "llm", "completion"), ("llm", "gateway", "answer"),
         ("gateway", "rag", "answer"), ("rag", "gateway", "response"), ("gateway", "user", "response via the LB"))
POLICY = (("user", "lb", "admin: new policy"), ("lb", "gateway", "key-auth"), ("gateway", "opa", "authorise"),
          ("gateway", "cms", "route"), ("cms", "mongo", "metadata"), ("cms", "etcd", "raw Rego (needs quorum)"),
          ("cms", "user", "update successful"), ("etcd", "policy_sync", "watch event"), ("policy_sync", "opa", "bundle, to its long poll"))
FLOWS = {"rag_query": QUERY, "policy_update": POLICY}
COLOURS = {"fails": "#c0392b", "degraded": "#d68910"}


def marks(topo: Topology, faults: Iterable[Fault]) -> dict[str, tuple[str, str]]:
    """kind -> (fails | degraded, why), for each kind a fault reaches."""
    out: dict[str, tuple[str, str]] = {}

    def mark(kind: str, level: str, why: str) -> None:
        rank = {"": 0, "degraded": 1, "fails": 2}
        if rank[level] > rank[out.get(kind, ("",))[0]]:  # the worst a fault does to a kind stays
            out[kind] = (level, why)

    for f in faults:
        fk = fault_kind(f.kind)
        if fk.drawn_on:
            mark(fk.drawn_on, "degraded", fk.drawn_why.format(kind=f.kind, target=f.target))
            continue
        try:
            t = resolve(topo, f.kind, f.target)
        except TargetError:
            continue
        if t.directed:  # a WAN fault: the Raft stores feel it first
            ends = {s for pair in t.directed for s in pair}
            for kind in QUORUM:
                voters = topo.components_of(kind)
                elsewhere = [c for c in voters if topo.site_of(c.name) not in ends]
                if fk.splits:
                    mark(kind, "degraded" if elsewhere else "fails",
                         "a third site's voter keeps a majority on one side" if elsewhere
                         else f"{len(voters)} voters split across the partition: neither side has a majority")
                else:
                    mark(kind, "degraded", f"{f.kind} on the WAN between {' and '.join(sorted(ends))}")
            continue
        hit = set(t.components)
        for kind in {c.kind for c in topo.components if c.name in hit}:
            all_ = topo.components_of(kind)
            gone = [c for c in all_ if c.name in hit]
            if kind in QUORUM:
                majority = len(all_) // 2 + 1
                lost = len(all_) - len(gone) < majority
                mark(kind, "fails" if lost else "degraded",
                     f"{len(gone)} of {len(all_)} voters gone: " + ("no majority" if lost else "the majority holds"))
            elif len(gone) == len(all_):
                mark(kind, "fails", f"every {kind} gone ({f.kind} {f.target})")
            else:
                mark(kind, "degraded", f"{len(gone)} of {len(all_)} {kind} gone: retried elsewhere until detection")
    return out


def sequence(title: str, steps, m: dict[str, tuple[str, str]]) -> str:
    used = [p for p in PARTICIPANTS if any(p in (a, b) for a, b, _ in steps)]
    x = {p: i for i, p in enumerate(used)}
    fig, ax = plt.subplots(figsize=(1.3 * len(used) + 1, 0.42 * len(steps) + 1.2))
    top = len(steps) + 0.5
    for p, i in x.items():
        colour = COLOURS.get(m.get(p, ("",))[0], "#555")
        ax.plot([i, i], [0, top], color=colour, lw=1, ls=":")
        ax.text(i, top + 0.2, p, ha="center", va="bottom", weight="bold", color=colour,
                bbox={"boxstyle": "round", "fc": "white", "ec": colour})
    for n, (a, b, what) in enumerate(steps, 1):
        y = top - n
        level = m.get(b, ("",))[0] if b != "user" else ""
        colour = COLOURS.get(level, "black")
        if a == b:
            ax.annotate("", (x[a] + 0.02, y - 0.25), (x[a] + 0.02, y), arrowprops={"arrowstyle": "->", "color": colour,
                                                                                    "connectionstyle": "arc3,rad=-1.2"})
        else:
            ax.annotate("", (x[b], y), (x[a], y), arrowprops={"arrowstyle": "->", "color": colour, "lw": 2 if level else 1})
        mid = (x[a] + x[b]) / 2 + (0.35 if a == b else 0)
        ax.text(mid, y + 0.08, f"{n}. {what}" + {"fails": "  ✕", "degraded": "  ⚠"}.get(level, ""), ha="center",
                va="bottom", fontsize=7.5, color=colour)
    ax.set_xlim(-0.7, len(used) - 0.3)
    ax.set_ylim(-0.2, top + 0.9)
    ax.set_axis_off()
    ax.set_title(title)
    return svg(fig)


def page(entry: Entry, measured: dict[str, dict] | None = None) -> dict:
    """`measured`: per preset, what a run of this scenario on it measured (see `_measured`).
    Hung requests sit beside failed ones: on a naive LB a query sent to a dead DC hangs 60 s,
    and availability cannot tell that from a failure at once (or, if it ends ok, from a success)."""
    presets = []
    for name, expect in entry.expect.items():
        try:
            topo = preset(name)
        except SpecError:
            continue
        m = marks(topo, entry.scenario.faults)
        flows = [f for f, _ in entry.scenario.load.mix if f in FLOWS] or list(FLOWS)
        presets.append({"name": name, "expect": expect, "marks": m, "measured": (measured or {}).get(name),
                        "diagrams": [sequence(f"{f} on {name}", FLOWS[f], m) for f in flows]})
    return {"entry": entry, "presets": presets, "any_measured": any(p["measured"] for p in presets), "hung_s": HUNG_S,
            "paragraphs": [p.replace("\n", " ") for p in (entry.scenario.description or entry.summary).split("\n\n")]}


def latest_runs(folder: Path) -> dict[tuple[str, str], Path]:
    """(catalogue entry, preset) -> the newest run directory of it directly in `folder` (by name: they
    end in a UTC stamp). A run is of the entry its scenario.json records, at whatever load; a run
    that records none (a file, an older run) is of no entry."""
    out: dict[tuple[str, str], Path] = {}
    for p in sorted(q for q in folder.iterdir() if q.is_dir() and rundir.is_run_dir(q)):
        entry = json.loads((p / "scenario.json").read_text(encoding="utf-8")).get("entry")
        if entry:
            summary = json.loads((p / "summary.json").read_text(encoding="utf-8"))
            out[(str(entry["name"]), str(summary.get("topology") or "seed"))] = p
    return out


def _measured(run_dir: Path, out: Path) -> dict:
    """A run's figures for a teaching page, and its own report written under `out`/runs/."""
    run = rundir.load(run_dir)
    report = build_run(run_dir, None, out / "runs" / run.name).html
    figures = headline.measures(run.history, run.summary)
    return {"name": run.name, "source": run.summary.get("source", "—"), "valid": verdicts_of.of(run).valid,
            "availability": {f: a.get("availability") for f, a in run.summary.get("availability", {}).items()},
            "detection_s": figures.get("detection_s"), "failed": figures.get("failed", {}),
            "hung": figures.get("hung", {}), "longest_s": figures.get("longest_s", {}),
            "link": report.relative_to(out).as_posix()}


def build(out: str | Path, names: Iterable[str] | None = None, runs_dir: str | Path | None = None) -> Path:
    """One page per catalogue scenario and an index of them in `out`; returns the index. With
    `runs_dir`, each page also shows what the newest run of it on each preset measured."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if runs_dir is not None and not Path(runs_dir).is_dir():
        raise FileNotFoundError(f"{runs_dir} is not a directory of run directories")
    found = latest_runs(Path(runs_dir)) if runs_dir is not None else {}
    entries = [CATALOGUE[n] for n in (names or sorted(CATALOGUE))]
    for e in entries:
        measured = {p: _measured(d, out) for (scenario, p), d in found.items() if scenario == e.name}
        (out / f"{e.name}.html").write_text(render("teaching.html.j2", **page(e, measured)), encoding="utf-8")
    index = out / "index.html"
    index.write_text(render("teaching_index.html.j2", entries=entries), encoding="utf-8")
    return index
