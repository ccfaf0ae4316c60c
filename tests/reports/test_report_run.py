from __future__ import annotations

import re

from click.testing import CliRunner

from harness.cli import main
from harness.scenario import Scenario
from reports import headline, rundir, timeline
from reports.run_report import build


def _report(runs, tmp_path):
    return build(runs / "dc2-down", None, tmp_path / "out")


def test_one_self_contained_html_and_a_markdown_summary(runs, tmp_path):
    w = _report(runs, tmp_path)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "report.md"]
    page = w.html.read_text()
    assert page.count("<svg") >= 3  # a timeline per flow and the topology
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(\s*['\"]?(https?:)?//", page, re.I)
    # Every reference in the page is to something inside it (SVG's own #ids) or inline data.
    refs = re.findall(r"""(?:href|src)\s*=\s*["']([^"']*)["']""", page, re.I)
    assert refs and all(r.startswith(("#", "data:")) for r in refs), [r for r in refs if not r.startswith("#")][:5]


def test_fault_window_shaded_where_the_nemesis_says(runs, tmp_path):
    run = rundir.load(runs / "dc2-down")
    faults = timeline.fault_windows(run.history)
    expected = [(f.kind, f.target, f.start_s, f.stop_s) for f in Scenario.from_dict(run.scenario.to_dict()).faults]
    assert [(f.kind, f.target, f.start_s, f.stop_s) for f in faults] == expected == [("site-down", "dc2", 12.0, 42.0)]
    page = _report(runs, tmp_path).html.read_text()
    shaded = re.findall(r'<figure class="timeline" data-flow="([^"]+)" data-fault-windows="([^"]*)">(.*?)</figure>', page, re.S)
    assert {f for f, _, _ in shaded} == {"rag_query", "policy_update"}
    for _, windows, svg in shaded:
        assert windows == "12-42"
        assert "#f4a6a6" in svg  # the shading itself is drawn


def test_no_shading_without_a_fault(runs, tmp_path):
    page = build(runs / "baseline", None, tmp_path / "b").html.read_text()
    assert 'data-fault-windows=""' in page and "#f4a6a6" not in page


def test_headline_figures_equal_the_summary(runs, tmp_path, summary):
    s = summary(runs / "dc2-down")
    run = rundir.load(runs / "dc2-down")
    m = headline.measures(run.history, run.summary)
    assert m["detection_s"] == round(s["failover"][0]["detection_s"], 2)
    assert m["recovery_s"] == round(s["failover"][0]["recovery_s"], 2)
    assert m["failed"] == {f: a["fail"] + a["info"] for f, a in s["availability"].items()}
    assert m["failed"]["policy_update"] > 0  # seed loses etcd quorum with DC2: the table has something to show
    for site, p in s["propagation"].items():
        assert m["propagation_ms"][site] == {"p50": round(p["delay"]["p50"] * 1000, 1), "p99": round(p["delay"]["p99"] * 1000, 1)}
    md = _report(runs, tmp_path).markdown.read_text()
    assert f"| detection time (s) | {headline.fmt(m['detection_s'])} |" in md
    assert f"| failed requests, policy_update | {m['failed']['policy_update']} |" in md
    # What the run does not record is a dash, not a number.
    assert "| max rate under SLO (rps) | — | — | — |" in md
    assert "| acknowledged writes lost | — |" in md


def test_prediction_error(runs, tmp_path, summary):
    ps = summary(runs / "dc2-down" / "prediction")
    ms = summary(runs / "dc2-down")
    rows = {r.name: r for r in headline.rows(*(headline.measures(rundir.load(p).history)
                                                for p in (runs / "dc2-down", runs / "dc2-down" / "prediction")))}
    det = rows["detection time"]
    assert det.measured == round(ms["failover"][0]["detection_s"], 2)
    assert det.predicted == round(ps["failover"][0]["detection_s"], 2)
    assert det.error == round(det.predicted - det.measured, 6)
    failed = rows["failed requests, policy_update"]
    pf, mf = (s["availability"]["policy_update"] for s in (ps, ms))
    assert failed.error == (pf["fail"] + pf["info"]) - (mf["fail"] + mf["info"])
    assert failed.relative_error == failed.error / (mf["fail"] + mf["info"])
    page = _report(runs, tmp_path).html.read_text()
    assert f"<td>{failed.cells()[0]}</td><td>{failed.cells()[1]}</td><td>{failed.cells()[2]}</td><td>{failed.cells()[3]}</td>" in page
    assert "p95 predicted" in page  # the prediction is drawn over the measurement


def test_verdicts_and_topology_marked(runs, tmp_path):
    page = _report(runs, tmp_path).html.read_text()
    for name in ("availability", "detection", "no-lost-updates", "opa-converged"):
        assert f"<td>{name}</td>" in page
    topo = re.search(r'<figure class="topology">(.*?)</figure>', page, re.S).group(1)
    for c in ("gateway2", "etcd2", "vectordb2"):
        assert f"✕ {c}" in topo
    for c in ("gateway1", "etcd1"):
        assert f"• {c}" in topo


def test_not_a_run_dir_names_what_it_lacks(runs):
    r = CliRunner().invoke(main, ["report", str(runs / "not-a-run")])
    assert r.exit_code != 0
    assert "not a run directory" in r.output
    for name in ("history.jsonl", "scenario.json", "summary.json"):
        assert name in r.output


def test_cli_writes_beside_an_out_dir(runs, tmp_path):
    r = CliRunner().invoke(main, ["report", str(runs / "dc2-down"), "--out", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cli" / "report.html").is_file() and (tmp_path / "cli" / "report.md").is_file()


def test_system_tracks_follow_the_events(runs, tmp_path):
    """HAProxy's marks and Raft leadership become state bars, policy loads a scatter per DC;
    the segments are what the events say (model-made run: no Docker)."""
    from reports import tracks

    run = rundir.load(runs / "dc2-down")
    end = timeline.end_s(run.history)
    segs = tracks.segments(run.history, end)
    marks = [op for op in run.history if op.process == "haproxy"]
    assert marks, "the model's dc2-down run marks gateway2 down"
    first = marks[0]
    down = [s for s in segs[f"{first.value['lb']} → {first.value['server']}"] if s.state == "down"]
    assert down[0].start_s == first.time
    assert any(s.state == tracks.NO_LEADER for s in segs["etcd leader"])  # seed: no etcd majority without DC2
    for track, ss in segs.items():
        assert ss[0].start_s <= ss[-1].stop_s == end, track
        assert all(a.stop_s == b.start_s and a.state != b.state for a, b in zip(ss, ss[1:])), track
    loads = tracks.loads(run.history)
    assert set(loads) == {"dc1", "dc2"}
    page = _report(runs, tmp_path).html.read_text()
    states = re.search(r'<figure class="states">(.*?)</figure>', page, re.S).group(1)
    assert "lb1 → gateway2" in states and "etcd leader" in states and "thin bars: the prediction" in states
    assert '<figure class="propagation">' in page
    base = rundir.load(runs / "baseline")
    assert not any(s.state in ("down", tracks.NO_LEADER)
                   for ss in tracks.segments(base.history, timeline.end_s(base.history)).values() for s in ss)
