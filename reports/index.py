"""`halab report --index DIR`: one page over every run directory in DIR, each run's own report
written beside it (OUT/<run>/report.html) and linked by a relative path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reports import headline, rundir
from reports import verdicts as verdicts_of
from reports.pages import render
from reports.run_report import build as build_run


@dataclass(frozen=True)
class Entry:
    name: str
    scenario: str
    topology: str
    source: str
    valid: object
    requests: int
    availability: dict[str, float]
    detection_s: float | None
    link: str


def runs(folder: Path) -> tuple[list[Path], list[tuple[Path, list[str]]]]:
    """The run directories directly in `folder`, and the other subdirectories with what they lack."""
    found, skipped = [], []
    for p in sorted(folder.iterdir()):
        if not p.is_dir():
            continue
        lacks = rundir.missing(p)
        (skipped.append((p, lacks)) if lacks else found.append(p))
    return found, skipped


def build(folder: str | Path, out: str | Path | None = None) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a directory")
    out = Path(out) if out else folder
    found, skipped = runs(folder)
    if not found:
        raise FileNotFoundError(f"{folder} holds no run directory (a subdirectory with {', '.join(rundir.REQUIRED)})"
                                + (f"; skipped: {', '.join(p.name for p, _ in skipped)}" if skipped else ""))
    entries = []
    for p in found:
        run = rundir.load(p)
        page = build_run(p, None, out / p.name).html
        m = headline.measures(run.history, run.summary)
        entries.append(Entry(p.name, run.scenario.name, run.topology, str(run.summary.get("source", "—")),
                             verdicts_of.of(run).valid, sum(1 for op in run.history if op.type == "invoke"),
                             {f: a.get("availability") for f, a in run.summary.get("availability", {}).items()},
                             m.get("detection_s"), page.relative_to(out).as_posix()))
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    index.write_text(render("index.html.j2", folder=folder, entries=entries, skipped=skipped), encoding="utf-8")
    return index
