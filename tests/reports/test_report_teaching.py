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
