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
