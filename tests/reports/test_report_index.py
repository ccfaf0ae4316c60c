from __future__ import annotations

import re

from reports.index import build


def test_index_lists_every_run_and_what_the_rest_lack(runs, tmp_path):
    page = build(runs, tmp_path / "idx").read_text()
    rows = re.findall(r'<tr class="run"><td><a href="([^"]+)">([^<]+)</a>', page)
    assert sorted(name for _, name in rows) == ["baseline", "dc2-down"]
    for link, name in rows:
        assert link == f"{name}/report.html" and (tmp_path / "idx" / link).is_file()
    assert "<code>not-a-run</code>: lacks history.jsonl, scenario.json, summary.json" in page
    assert "prediction" not in [name for _, name in rows]  # a run's own prediction is not a separate run
