"""harness/history: ops as data, JSON-lines round trip."""

from __future__ import annotations

import doctest

import pytest

import harness.history as history
from harness.history import Op, completions, read_jsonl, write_jsonl


def test_doctests() -> None:
    assert doctest.testmod(history).failed == 0


def test_jsonl_round_trip(tmp_path) -> None:
    ops = [
        Op(0, "invoke", "policy_update", value={"id": "p1"}, time=1.0),
        Op(0, "ok", "policy_update", value={"revision": 7}, time=1.25, latency=0.25, site="dc2",
           steps={"cms": 0.01, "mongo": 0.02, "etcd": 0.003}),
        Op("u3", "info", "rag_query", time=2.0, latency=60.0, error="timeout"),
    ]
    path = tmp_path / "history.jsonl"
    assert write_jsonl(ops, path) == 3
    assert read_jsonl(path) == ops
    assert '"latency"' not in path.read_text().splitlines()[0]  # None fields are left out


def test_bad_type_and_bad_line_are_named(tmp_path) -> None:
    with pytest.raises(ValueError, match="op type"):
        Op(1, "done", "rag_query")
    path = tmp_path / "h.jsonl"
    path.write_text('{"process": 1, "type": "ok", "f": "x"}\n\n{"nope": 1}\n')
    with pytest.raises(ValueError, match=r"h.jsonl:3"):
        read_jsonl(path)


def test_completions_and_start() -> None:
    ops = [Op(1, "invoke", "q", time=1.0), Op(1, "fail", "q", time=1.5, latency=0.5)]
    (done,) = completions(ops)
    assert done.start == pytest.approx(1.0)
