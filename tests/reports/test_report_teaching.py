from __future__ import annotations

import re

from click.testing import CliRunner

from harness.cli import main
from scenarios.catalogue import CATALOGUE


def test_a_page_per_scenario_with_the_failing_step_marked(tmp_path):
    r = CliRunner().invoke(main, ["report", "--teaching", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert sorted(p.stem for p in tmp_path.glob("*.html")) == sorted([*CATALOGUE, "index"])
    page = (tmp_path / "dc2-down.html").read_text()
    assert not re.search(r"<script|<link|<img|https?://(?!www\.w3\.org|purl\.org|creativecommons|matplotlib)", page)
    seed, witness = page.split("<h2>seed+witness</h2>")
    seed = seed.split("<h2>seed</h2>")[1]
    # seed: DC2's etcd voter gone leaves 1 of 2, no majority: the raw-Rego write fails.
    assert "6. raw Rego (needs quorum)  ✕" in seed
    # seed+witness: the witness keeps the majority; the step is degraded, not failed.
    assert "6. raw Rego (needs quorum)  ⚠" in witness and "6. raw Rego (needs quorum)  ✕" not in witness
    assert CATALOGUE["dc2-down"].summary in page


def test_with_runs_each_preset_shows_its_newest_measurement(tmp_path):
    """--runs DIR: the dc2-down page sets what a run on seed and one on seed+witness measured
    side by side, each linked to its own report; scenarios without a run say so."""
    import json

    runs = tmp_path / "runs"
    for name, p in (("a-seed-dc2-down", "seed"), ("b-witness-dc2-down", "seed+witness")):
        r = CliRunner().invoke(main, ["simulate", "--preset", p, "--scenario", "dc2-down", "--rps", "20", "--duration", "40",
                                      "--out", str(runs / name)])
        assert r.exit_code == 0, r.output
    out = tmp_path / "teach"
    r = CliRunner().invoke(main, ["report", "--teaching", "--runs", str(runs), "--out", str(out)])
    assert r.exit_code == 0, r.output
    page = (out / "dc2-down.html").read_text()
    row = re.search(r"<tr><td>measured: run</td>(.*?)</tr>", page).group(1)
    assert 'href="runs/a-seed-dc2-down/report.html"' in row and 'href="runs/b-witness-dc2-down/report.html"' in row
    assert (out / "runs" / "a-seed-dc2-down" / "report.html").is_file()
    failed = re.search(r"<tr><td>measured: failed requests</td><td>(.*?)</td><td>(.*?)</td></tr>", page)
    seed_sum, witness_sum = (json.loads((runs / n / "summary.json").read_text()) for n in ("a-seed-dc2-down", "b-witness-dc2-down"))
    for cell, s in zip(failed.groups(), (seed_sum, witness_sum), strict=True):
        a = s["availability"]["policy_update"]
        assert f"policy_update {a['fail'] + a['info']}" in cell
    # The witness keeps etcd's majority: seed loses policy updates that seed+witness does not.
    assert seed_sum["availability"]["policy_update"]["availability"] < witness_sum["availability"]["policy_update"]["availability"]
    assert "measured: run" not in (out / "lb-killed.html").read_text()
    r = CliRunner().invoke(main, ["report", "--teaching", "--runs", str(tmp_path / "nowhere"), "--out", str(out)])
    assert r.exit_code != 0 and "not a directory" in r.output
