"""`halab report RUN_DIR`: one self-contained HTML page (every figure inline SVG) and a
Markdown summary beside it, from a run directory and, where given, its prediction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.spec import SpecError, preset
from reports import headline, plots, rundir, timeline, topology_svg, tracks
from reports import verdicts as verdicts_of
from reports.pages import render


@dataclass(frozen=True)
class Written:
    html: Path
    markdown: Path


def default_prediction(run: rundir.Run) -> Path | None:
    p = run.path / "prediction"
    return p if rundir.is_run_dir(p) else None


def build(run_dir: str | Path, prediction_dir: str | Path | None = None, out: str | Path | None = None) -> Written:
    run = rundir.load(run_dir)
    pred_path = Path(prediction_dir) if prediction_dir else default_prediction(run)
    pred = rundir.load(pred_path) if pred_path else None
    out = Path(out) if out else run.path
    out.mkdir(parents=True, exist_ok=True)

    faults = timeline.fault_windows(run.history)
    end = max(timeline.end_s(run.history), timeline.end_s(pred.history) if pred else 0.0)
    measured_w = timeline.windows(run.history)
    predicted_w = timeline.windows(pred.history) if pred else {}
    shaded = ";".join(f"{fw.start_s:g}-{fw.stop_s if fw.stop_s is not None else end:g}" for fw in faults)
    timelines = [{"flow": f, "shaded": shaded,
                  "svg": plots.timeline(f, measured_w[f], predicted_w.get(f) if pred else None, faults, end)}
                 for f in sorted(set(measured_w) | set(predicted_w)) if f in measured_w]
    rows = headline.rows(headline.measures(run.history, run.summary),
                         headline.measures(pred.history, pred.summary) if pred else None)
    try:
        topo_svg = topology_svg.draw(preset(run.topology), run.scenario)
    except SpecError as exc:
        topo_svg = f"<p>No drawing: {exc}</p>"
    context = dict(run=run, prediction=pred, faults=faults, end_s=end, headline=rows, timelines=timelines,
                   dropped_svg=plots.dropped(measured_w, faults, end), events=timeline.system_events(run.history),
                   propagation_svg=plots.propagation(tracks.loads(run.history),
                                                     tracks.loads(pred.history) if pred else None, faults, end),
                   states_svg=plots.states(tracks.segments(run.history, end),
                                           tracks.segments(pred.history, end) if pred else None, faults, end),
                   verdicts=verdicts_of.of(run), topology_svg=topo_svg,
                   faults_text="; ".join(f"{fw.kind} {fw.target} {fw.start_s:g}–{'end' if fw.stop_s is None else f'{fw.stop_s:g}'} s"
                                         for fw in faults) or "none",
                   requests=sum(1 for op in run.history if op.type == "invoke"))
    html = out / "report.html"
    md = out / "report.md"
    html.write_text(render("run.html.j2", **context), encoding="utf-8")
    md.write_text(render("run.md.j2", **context), encoding="utf-8")
    return Written(html, md)
