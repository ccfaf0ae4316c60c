from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from harness.cli import main
from reports import capacity


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    r = CliRunner().invoke(main, ["capacity", "--rps", "50..800", "--points", "5", "--replicas", "1..3",
                                  "--duration", "10", "--seed", "0", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def _smallest_meeting(data, target, slo_s):
    """From the raw points: the smallest replica count whose first point at or above the target meets the SLO."""
    flow = data["flow"]
    for n in sorted({p["replicas"] for p in data["points"]}):
        at = sorted((p for p in data["points"] if p["replicas"] == n and p["rps"] >= target), key=lambda p: p["rps"])
        if at and at[0]["p95"][flow] <= slo_s and at[0]["availability"][flow] >= 0.999:
            return n
    return None


@pytest.mark.parametrize("target", [100.0, 300.0, 600.0])
def test_recommendation_is_the_smallest_replica_count_under_the_slo(sweep, tmp_path, target):
    data = json.loads((sweep / "capacity.json").read_text())
    want = _smallest_meeting(data, target, 1.0)
    w = capacity.build(sweep, tmp_path, target_rps=target, slo_ms=1000)
    got = re.search(r'class="recommendation" data-replicas="(\d*)"', w.html.read_text()).group(1)
    assert got == str(want)
    # 600 rps is past one replica's knee in this sweep (its 800 rps point misses), within two's.
    if target == 600.0:
        assert want == 2
    if target == 100.0:
        assert want == 1


def test_a_tighter_slo_can_leave_no_recommendation(sweep, tmp_path):
    w = capacity.build(sweep, tmp_path, target_rps=600, slo_ms=100)
    page = w.html.read_text()
    assert 'data-replicas=""' in page and "no replica count swept meets" in page


def test_saturation_rate_per_tier(sweep):
    s = capacity.load(sweep)
    sat = capacity.saturation(s.points)
    one = [p for p in s.points if p.replicas == 1]
    below = [p for p in one if 0 < p.utilisation["rag"] < 1]
    assert sat[1]["rag"] == round(below[-1].rps / below[-1].utilisation["rag"], 1)
    assert sat[3]["rag"] > sat[1]["rag"]  # more replicas, later saturation


def test_not_a_sweep(tmp_path):
    r = CliRunner().invoke(main, ["report", "--capacity", str(tmp_path)])
    assert r.exit_code != 0 and "capacity.json" in r.output


def test_a_measured_load_run_sits_on_the_same_axes(sweep, tmp_path):
    """A fault-free run directory (here the model's, made as `halab load --out` shapes one)
    becomes a point at its offered rate and p95; a fault run is refused, not plotted."""
    run = tmp_path / "load-200"
    r = CliRunner().invoke(main, ["simulate", "--scenario", "baseline", "--rps", "200", "--duration", "20", "--seed", "3",
                                  "--out", str(run)])
    assert r.exit_code == 0, r.output
    m = capacity.measured(run, "rag_query")
    assert m.replicas == 1 and abs(m.rps - 200) < 20 and 0 < m.p95_s < 10
    r = CliRunner().invoke(main, ["report", "--capacity", str(sweep), "--measured", str(run), "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "p" / "capacity.html").read_text()
    assert "measured: load-200 (1 replica(s))" in page
    row = re.search(r'<table class="measured">.*?<td>load-200</td><td>1</td><td>([\d.,]+)</td><td>([\d,]+)</td>', page, re.S)
    assert row and float(row.group(1).replace(",", "")) == m.rps and int(row.group(2).replace(",", "")) == round(m.p95_s * 1000)
    assert "| load-200 | 1 |" in (tmp_path / "p" / "capacity.md").read_text()
    fault = tmp_path / "dc2"
    CliRunner().invoke(main, ["simulate", "--scenario", "dc2-down", "--rps", "20", "--duration", "30", "--out", str(fault)])
    r = CliRunner().invoke(main, ["report", "--capacity", str(sweep), "--measured", str(fault), "--out", str(tmp_path / "q")])
    assert r.exit_code != 0 and "fault-free" in r.output
    r = CliRunner().invoke(main, ["report", str(run), "--measured", str(run)])
    assert r.exit_code != 0 and "--capacity" in r.output
