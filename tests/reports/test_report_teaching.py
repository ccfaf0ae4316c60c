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


def test_hung_requests_and_the_longest_side_by_side(tmp_path):
    """The recorded dc2-down run as seed, and the same run as seed+naive-lb with two queries
    sent to the dead DC on pooled connections that hung 60 s (one answered late, one failed):
    the dc2-down page shows each preset's hung requests and longest request from its own run."""
    import json
    import shutil
    from pathlib import Path

    from harness.history import Op, read_jsonl
    from reports import teaching
    from scenarios import checkers

    recorded = Path(__file__).parent / "fixtures" / "measured-dc2-down"
    runs = tmp_path / "runs"
    seed, naive = runs / "a-seed-dc2-down", runs / "b-naive-dc2-down"
    shutil.copytree(recorded, seed)
    shutil.copytree(recorded, naive)
    summary = json.loads((naive / "summary.json").read_text())
    (naive / "summary.json").write_text(json.dumps({**summary, "topology": "seed+naive-lb"}))
    with open(naive / "history.jsonl", "a", encoding="utf-8") as h:
        for i, type_ in enumerate(("ok", "fail")):
            h.write(json.dumps(Op(f"hung-{i}", type_, "rag_query", time=70.0, latency=60.0, site="dc2").to_dict()) + "\n")
    teaching.build(tmp_path / "teach", ["dc2-down"], runs)
    page = (tmp_path / "teach" / "dc2-down.html").read_text()

    header = re.search(r"<tr><th>expectation</th>(.*?)</tr>", page).group(1)
    presets = re.findall(r"<th>(.*?)</th>", header)
    assert "seed" in presets and "seed+naive-lb" in presets

    def cells(label: str) -> dict[str, str]:
        row = re.search(rf"<tr><td>{re.escape(label)}</td>(.*?)</tr>", page).group(1)
        return dict(zip(presets, re.findall(r"<td[^>]*>(.*?)</td>", row), strict=True))

    hung, longest = cells("measured: hung requests (≥ 5 s)"), cells("measured: longest request (s)")
    for name, run in (("seed", seed), ("seed+naive-lb", naive)):
        expected = checkers.hung(read_jsonl(run / "history.jsonl"))
        for f, h in expected.items():
            assert f"{f} {h.count}" in hung[name].split("<br>")
            assert f"{f} {round(h.longest_s, 2):,.2f}" in longest[name].split("<br>")
    assert "rag_query 4" in hung["seed+naive-lb"] and "rag_query 60.00" in longest["seed+naive-lb"]
    assert "rag_query 2" in hung["seed"] and "rag_query 27.18" in longest["seed"]
    assert hung["seed+witness"] == "—" == longest["seed+witness"]  # no run given on it
