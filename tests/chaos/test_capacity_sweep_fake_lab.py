"""`halab capacity-measure` against a fake lab: a measure function whose lab holds the SLO up to
a knee and drops arrivals where told, so the ladder, the bisection, the verdicts and the
capacity.json it writes are checked without Docker."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from chaos import capacity_sweep as cs
from harness.cli import main
from harness.history import Op
from harness.spec import preset
from reports import capacity as report
from scenarios.catalogue import entry

BASE = entry("baseline").scenario
LADDER = [5.0, 10.0, 20.0, 40.0, 80.0]


def fake_lab():
    return SimpleNamespace(run_id="fake-1", state=SimpleNamespace(preset="seed", vip_url="https://127.0.0.1:1"),
                           plan=SimpleNamespace(topology=preset("seed")))


class FakeLab:
    """p95 of 200 ms up to `knee` rps, above 1 s past it; `drop_above`: from that rate on, one
    policy_update arrival is dropped (rag_query's p95 and availability stay within the SLO)."""

    def __init__(self, knee: float, drop_above: float | None = None) -> None:
        self.knee, self.drop_above = knee, drop_above
        self.rates: list[float] = []
        self.settled = 0

    def settle(self, lab) -> None:
        self.settled += 1

    def measure(self, lab, scenario, *, seed=0, workers=None):
        assert scenario.name == "baseline" and not scenario.faults and len(scenario.load.stages) == 1
        rps, duration = scenario.load.stages[0].rps, scenario.load.duration_s
        assert self.settled == len(self.rates) + 1, "the lab settles before every step"
        self.rates.append(rps)
        latency = 0.2 if rps <= self.knee else 1.5 + (rps - self.knee)
        n = int(rps * duration)
        history, dropped = [], 0
        for i in range(n):
            f, t = ("policy_update" if i % 5 == 4 else "rag_query"), i / rps
            history.append(Op(i, "invoke", f, time=t))
            if f == "policy_update" and self.drop_above is not None and rps >= self.drop_above and not dropped:
                history.append(Op(i, "fail", f, time=t, latency=0.0, error="dropped"))
                dropped += 1
            else:
                history.append(Op(i, "ok", f, time=t + latency, latency=latency, site="dc1"))
        return history, {"seed": seed, "workers": 8, "requests": n, "dropped": dropped, "late_starts": 0, "max_start_lag_s": 0.0}

    def sweep(self, rates=LADDER, tolerance=0.05, on_step=None) -> cs.Result:
        return cs.sweep(fake_lab(), BASE, rates, cs.Slo(1.0), duration_s=30, tolerance=tolerance, measure=self.measure,
                        settle=self.settle, on_step=on_step)


@pytest.mark.parametrize("knee", [5.4, 13.0, 47.3, 79.9])
@pytest.mark.parametrize("tolerance", [0.05, 0.02])
def test_fake_lab_bisection_stops_within_the_tolerance(knee, tolerance):
    lab = FakeLab(knee)
    r = lab.sweep(tolerance=tolerance)
    assert r.bracketed and r.best <= knee < r.first_miss
    assert r.first_miss - r.best <= tolerance * r.best
    ladder = [s.rps for s in r.steps if s.phase == "step"]
    assert ladder == [x for x in LADDER if x <= r.steps[len(ladder) - 1].rps] and not r.steps[len(ladder) - 1].meets_slo
    # Nothing above the first miss of the ladder is measured; bisection halves the bracket each step.
    assert max(lab.rates) == ladder[-1] and len(r.steps) - len(ladder) <= 7
    assert all(s.meets_slo == (s.rps <= knee) for s in r.steps)


def test_fake_lab_dropped_arrivals_are_misses_even_within_p95_and_availability():
    lab = FakeLab(knee=1000, drop_above=30)
    r = lab.sweep()
    missed = [s for s in r.steps if not s.meets_slo]
    assert missed and all(s.dropped == 1 and "dropped" in s.why for s in missed)
    assert all(s.p95["rag_query"] <= 1.0 and s.availability["rag_query"] == 1.0 for s in missed)
    assert r.best < 30 <= r.first_miss and r.first_miss - r.best <= 0.05 * r.best


def test_fake_lab_without_a_bracket_does_not_bisect():
    low = FakeLab(knee=1).sweep()
    assert (low.best, low.first_miss, len(low.steps), low.bracketed) == (None, 5.0, 1, False)
    high = FakeLab(knee=1000).sweep()
    assert (high.best, high.first_miss, len(high.steps), high.bracketed) == (80.0, None, 5, False)


def test_fake_lab_capacity_json_renders_beside_a_model_sweep(tmp_path):
    model = tmp_path / "model"
    r = CliRunner().invoke(main, ["capacity", "--rps", "20..160", "--points", "4", "--replicas", "1", "--duration", "10",
                                  "--out", str(model)])
    assert r.exit_code == 0, r.output
    lab = FakeLab(knee=47.3, drop_above=60)
    result = lab.sweep()
    path = cs.write(tmp_path / "measured", result, fake_lab(), cs.Slo(1.0), duration_s=30, seed=0, scenario="baseline")
    body, model_body = json.loads(path.read_text()), json.loads((model / "capacity.json").read_text())
    assert (body["source"], body["run_id"], body["preset"], body["kind"]) == ("measured", "fake-1", "seed", "capacity-sweep")
    assert set(model_body) - {"points"} <= set(body) and set(model_body["points"][0]) <= set(body["points"][0])
    assert body["bracket"] == [result.best, result.first_miss] and body["bracketed"]

    out = tmp_path / "side-by-side"
    r = CliRunner().invoke(main, ["report", "--capacity", str(model), "--capacity", str(path.parent), "--out", str(out)])
    assert r.exit_code == 0, r.output
    predicted = report.highest(report.load(model), 1.0)[0]
    page = (out / "capacity.html").read_text()
    row = re.search(r'<table class="ratios">.*?<tr><td>1</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>', page, re.S)
    assert row, page
    assert row.group(1) == predicted.shown and row.group(2) == f"{result.best:,g}"
    if predicted.rps and not predicted.open_ended:
        assert row.group(3).startswith(f"{predicted.rps / result.best:.2f}")
    assert "1 replica(s), measured on fake-1" in page and "1 replica(s), model" in page
    assert "the lab&#39;s steps do not measure it" not in page  # the model sweep's utilisation is drawn
    md = (out / "capacity.md").read_text()
    assert f"| measured on fake-1 | 1 | {result.best:,g} | {result.first_miss:,g} |" in md


def test_report_of_a_measured_sweep_alone_counts_a_dropped_arrival_as_a_miss(tmp_path):
    result = FakeLab(knee=1000, drop_above=30).sweep()
    path = cs.write(tmp_path / "m", result, fake_lab(), cs.Slo(1.0), duration_s=30, seed=0, scenario="baseline")
    s = report.load(path.parent)
    assert report.highest(s, 1.0)[0].rps == result.best
    r = CliRunner().invoke(main, ["report", "--capacity", str(path.parent)])
    assert r.exit_code == 0, r.output
    assert "do not measure it" in (path.parent / "capacity.html").read_text()


def test_capacity_measure_command_on_a_fake_lab(tmp_path, monkeypatch):
    from chaos.cli import capacity as cli
    from harness.clients import measure as m

    lab = FakeLab(knee=47.3)
    monkeypatch.setattr(cli, "running_lab", fake_lab)
    monkeypatch.setattr(m, "measure", lab.measure)
    monkeypatch.setattr(cs, "wait_healthy", lab.settle)
    r = CliRunner().invoke(main, ["capacity-measure", "--rps", "10..80", "--points", "4", "--duration", "5", "--cooldown",
                                  "0", "--out", str(tmp_path / "sweep")])
    assert r.exit_code == 0, r.output
    assert re.search(r"step +40\.00 rps: p95 rag_query 200 ms, availability 1\.0000, 0 dropped, 0 late starts.*meets", r.output)
    assert re.search(r"step +80\.00 rps: .*misses \(p95 34,200 ms > 1,000 ms\)", r.output)
    assert "bisect" in r.output and "highest rate meeting the SLO" in r.output
    assert json.loads((tmp_path / "sweep" / "capacity.json").read_text())["source"] == "measured"
