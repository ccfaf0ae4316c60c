"""`halab report --propagation BENCH.json`: the "where instant ends" page from a small synthetic
benchmark (both paths, 1/100/1000 policies; no Docker, the model predicts a few updates a row)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main


def spread(p50: float, p99: float) -> dict:
    return {"n": 10, "p50_ms": p50, "p99_ms": p99, "max_ms": p99 * 1.1}


def row(policies: int, rate: str, path: str, decision: dict[str, tuple[float, float]], *, compile_ms: float,
        updates: int = 8, lag: int = 1) -> dict:
    """A row as the benchmark writes it: the commit ~10 ms (the WAN round trip to DC2's voter), the
    watch floor 11 ms p50 / 12 ms p99 in DC1 and 13 / 16 in DC2, `decision` (p50, p99) per DC."""
    floor = {"dc1": (11.0, 12.0), "dc2": (13.0, 16.0)}
    r = {"policies": policies, "size": "1k", "rate": rate, "path": path, "updates": updates, "commit": spread(10.0, 11.0),
         "lag_revisions_max": {"dc1": lag, "dc2": lag}, "not_loaded_after_drain": {"dc1": 0, "dc2": 0},
         "opa_put_alone": {"wall": spread(compile_ms + 2, compile_ms + 4), "compile": spread(compile_ms, compile_ms * 1.2)},
         "last_activation_ms": {dc: {"rego_module_parse": 0.5, "rego_module_compile": compile_ms} for dc in floor},
         "cpu_cores": {}}
    for dc, (f50, f99) in floor.items():
        d50, d99 = decision[dc]
        r[dc] = {"floor_watch": spread(f50, f99), "decision": spread(d50, d99),
                 "decision_after_ack": spread(d50 - 10, d99 - 10), "decision_after_watch": spread(d50 - f50, d99 - f99)}
    return r


COMPILE = {1: 0.5, 100: 6.0, 1000: 80.0}


def benchmark() -> dict:
    rows = [
        row(1, "seq", "rego", {"dc1": (14.0, 16.0), "dc2": (17.0, 21.0)}, compile_ms=COMPILE[1]),
        row(100, "seq", "rego", {"dc1": (17.0, 20.0), "dc2": (20.0, 25.0)}, compile_ms=COMPILE[100]),
        row(1000, "seq", "rego", {"dc1": (95.0, 120.0), "dc2": (98.0, 125.0)}, compile_ms=COMPILE[1000]),
        row(1000, "10", "rego", {"dc1": (100.0, 130.0), "dc2": (104.0, 136.0)}, compile_ms=COMPILE[1000], lag=3),
        row(1, "seq", "data", {"dc1": (12.5, 14.0), "dc2": (15.0, 19.0)}, compile_ms=COMPILE[1]),
        row(1000, "seq", "data", {"dc1": (13.0, 15.0), "dc2": (15.5, 20.0)}, compile_ms=COMPILE[1000]),
        # misses its goal in DC2: p99 60 ms against a floor of 16 ms + 10 ms
        row(1000, "100", "data", {"dc1": (13.0, 18.0), "dc2": (16.0, 60.0)}, compile_ms=COMPILE[1000], updates=20, lag=4),
    ]
    return {"header": "synthetic propagation benchmark", "rows": rows}


def write(tmp_path: Path, data, name: str = "propagation.json") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def report(*args: str):
    return CliRunner().invoke(main, ["report", *args])


def table_row(page: str, policies: int, rate: str, path: str) -> str:
    m = re.search(rf'<tr class="row" data-policies="{policies}" data-rate="{rate}" data-path="{path}">(.*?)</tr>', page, re.S)
    assert m, (policies, rate, path)
    return m.group(1)


def test_the_page_shows_both_dcs_every_row_the_goals_and_where_instant_ends(tmp_path):
    bench = benchmark()
    out = tmp_path / "page"
    r = report("--propagation", str(write(tmp_path, bench)), "--out", str(out))
    assert r.exit_code == 0, r.output
    page = (out / "propagation.html").read_text()
    assert not re.search(r"<script|<link|<img", page)
    for dc in ("dc1", "dc2"):
        figure = re.search(rf'<figure class="plot" data-dc="{dc}">(.*?)</figure>', page, re.S)
        assert figure and "<svg" in figure.group(1), dc
    assert len(re.findall(r'<tr class="row"', page)) == len(bench["rows"])
    for b in bench["rows"]:
        cells = table_row(page, b["policies"], b["rate"], b["path"])
        assert f"{b['dc1']['decision']['p50_ms']:.1f} / {b['dc1']['decision']['p99_ms']:.1f}" in cells
        assert f"{b['dc2']['decision']['p50_ms']:.1f} / {b['dc2']['decision']['p99_ms']:.1f}" in cells
    # The goals are computed per DC: the 100/s data row meets it in DC1 (18 <= 12 + 10) and
    # misses it in DC2 (60 > 16 + 10); the 1000-policy Rego row meets 1.5 x (12 + 80) = 138.
    missed = table_row(page, 1000, "100", "data")
    assert re.findall(r'class="goal (\w+)">(\w+)<', missed) == [("pass", "met"), ("FAIL", "missed")]
    assert "26.0" in missed  # DC2's bound: its floor p99 + 10 ms
    rego = table_row(page, 1000, "seq", "rego")
    assert re.findall(r'class="goal \w+">(\w+)<', rego) == ["met", "met"] and "138.0" in rego
    assert 'class="lag pass">yes' in table_row(page, 1000, "10", "rego")
    # Instant: 100 policies' Rego p99 is within the floor + 10 ms in both DCs, 1000's is not.
    text = re.sub(r"\s+", " ", page)
    assert 'class="instant" data-policies="100" data-beyond="1000"' in page
    assert "Instant ends at 100 policies" in text
    assert "Past 100 policies, an update that must be instant should be a document" in text
    # Compiled alone, past 1 / 80 ms = 12.5 updates/s at 1000 policies they fall behind.
    assert '<strong data-policies="1000">12.5</strong>' in page
    assert "the activation in progress plus its own (about 160.0 ms at 1000 policies)" in text


def test_where_instant_ends_follows_the_data(tmp_path):
    """Make the 100-policy Rego row slow: instant now ends at one policy."""
    bench = benchmark()
    slow = copy.deepcopy(bench)
    slow["rows"][1]["dc2"]["decision"]["p99_ms"] = 40.0
    out = tmp_path / "page"
    r = report("--propagation", str(write(tmp_path, slow)), "--out", str(out))
    assert r.exit_code == 0, r.output
    page = re.sub(r"\s+", " ", (out / "propagation.html").read_text())
    assert 'data-policies="1" data-beyond="100"' in page and "Instant ends at 1 policy:" in page
    assert '<strong data-policies="100">166.7</strong>' in page  # 1 / 6 ms


def test_the_page_goes_beside_the_benchmark_by_default(tmp_path):
    bench = write(tmp_path, benchmark())
    r = report("--propagation", str(bench))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "propagation.html").is_file() and str(tmp_path / "propagation.html") in r.output


def _drop(key: str):
    def f(b):
        del b["rows"][2]["dc2"][key]
        return b
    return f


@pytest.mark.parametrize(("content", "says"), [
    (None, "no such file"),
    ("{not json", "not JSON"),
    ({"header": "x"}, 'no "rows" list'),
    ({"header": "x", "rows": []}, "no rows"),
    (_drop("decision"), "row 3 (1000 policies, rate seq, rego) lacks dc2.decision.p50_ms, dc2.decision.p99_ms"),
    (lambda b: {"rows": [r for r in b["rows"] if r["path"] == "data"]}, "the model cannot be fitted"),
])
def test_a_bad_benchmark_is_a_clear_error(tmp_path, content, says):
    if content is None:
        path = tmp_path / "nowhere.json"
    else:
        path = write(tmp_path, content(benchmark()) if callable(content) else content, "bad.json")
    r = report("--propagation", str(path), "--out", str(tmp_path / "out"))
    assert r.exit_code == 1, r.output
    assert f"Error: {path}: " in r.output and says in r.output
    assert not (tmp_path / "out" / "propagation.html").exists()


def test_propagation_is_one_of_the_exclusive_choices(tmp_path):
    r = report("--propagation", str(write(tmp_path, benchmark())), "--teaching")
    assert r.exit_code == 2 and "--propagation BENCH.json" in r.output


def test_doctests() -> None:
    import doctest

    import reports.propagation

    assert doctest.testmod(reports.propagation).failed == 0
