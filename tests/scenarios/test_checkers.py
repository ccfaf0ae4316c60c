"""scenarios/checkers on hand-made histories: the numbers are worked out by hand."""

from __future__ import annotations

import doctest
import math

import pytest

import scenarios.checkers as checkers
from harness.history import Op, event


def q(pid, type_, t, latency, f="rag_query", **kw) -> Op:
    return Op(pid, type_, f, time=t, latency=latency, **kw)


HISTORY = [
    event("nemesis", "site-down", {"target": "dc2", "phase": "start"}, 10.0),
    Op(1, "invoke", "rag_query", time=9.0),
    q(1, "ok", 9.5, 0.5),
    q(2, "ok", 11.0, 0.2),
    q(3, "info", 12.0, 1.0, error="timeout"),
    q(4, "fail", 13.0, 0.1, error="no-server"),
    event("haproxy", "server-down", {"lb": "lb1", "server": "gateway2"}, 16.0),
    event("haproxy", "server-down", {"lb": "lb2", "server": "gateway2"}, 15.0),
    q(5, "ok", 21.0, 0.3),
    q(6, "ok", 22.0, 0.04, f="policy_update", value={"revision": 1}),
    q(7, "ok", 23.0, 0.06, f="policy_update", value={"revision": 2}),
    event("nemesis", "site-down", {"target": "dc2", "phase": "stop"}, 30.0),
    event("haproxy", "server-up", {"lb": "lb1", "server": "gateway2"}, 33.5),
    event("policy_sync", "policy-loaded", {"site": "dc1", "revision": 1, "delay_s": 0.01}, 22.01),
    event("policy_sync", "policy-loaded", {"site": "dc1", "revision": 2, "delay_s": 0.03}, 23.03),
    event("policy_sync", "policy-loaded", {"site": "dc2", "revision": 1, "delay_s": 9.0}, 31.0),
]


def test_doctests() -> None:
    assert doctest.testmod(checkers).failed == 0


def test_availability_counts_client_completions_only() -> None:
    a = checkers.availability(HISTORY)
    assert set(a) == {"rag_query", "policy_update"}
    assert (a["rag_query"].ok, a["rag_query"].fail, a["rag_query"].info) == (3, 1, 1)
    assert a["rag_query"].availability == pytest.approx(3 / 5)
    assert a["policy_update"].availability == 1.0


def test_latency_percentiles_interpolate_between_ranks() -> None:
    lat = checkers.latency(HISTORY)["rag_query"]  # ok latencies: 0.2, 0.3, 0.5
    assert (lat.count, lat.p50, lat.max) == (3, 0.3, 0.5)
    assert lat.p95 == pytest.approx(0.3 + 0.9 * 0.2)
    assert lat.mean == pytest.approx(1.0 / 3)
    assert checkers.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert math.isnan(checkers.percentile([], 50))


def test_latency_window_by_invoke_time() -> None:
    assert checkers.latency(HISTORY, start_s=10.0, stop_s=20.0)["rag_query"].count == 1  # invoked at 10.8


def test_windowed_availability_buckets_by_invoke_time() -> None:
    w = checkers.windowed_availability(HISTORY, window_s=10.0)["rag_query"]
    # invokes: 9.0 (ok), 10.8 (ok), 11.0 (info), 12.9 (fail), 20.7 (ok)
    assert [(x.start_s, x.ok, x.total) for x in w] == [(0.0, 1, 1), (10.0, 1, 3), (20.0, 1, 1)]
    assert w[1].availability == pytest.approx(1 / 3)


def test_failover_detection_and_recovery() -> None:
    (any_lb,) = checkers.failover(HISTORY)
    assert (any_lb.fault, any_lb.target, any_lb.detection_s, any_lb.recovery_s) == ("site-down", "dc2", 5.0, 3.5)
    (lb1,) = checkers.failover(HISTORY, lb="lb1")
    assert lb1.detection_s == 6.0


def test_propagation_delays_and_missing_revisions() -> None:
    p = checkers.propagation(HISTORY)
    assert p["dc1"].valid and p["dc1"].delay.max == pytest.approx(0.03)  # from the ack, not the event's own delay
    assert p["dc2"].missing == (2,) and not p["dc2"].valid
    assert p["dc2"].delay.p50 == 9.0


def test_empty_history() -> None:
    assert checkers.availability([]) == {} and checkers.latency([]) == {} and checkers.failover([]) == []
