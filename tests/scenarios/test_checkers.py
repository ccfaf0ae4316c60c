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


def test_hung_counts_every_outcome_past_the_bound_and_the_longest():
    """ok 0.2 s, fail 60 s, info 6 s, ok 4.9 s: the fail and the info are hung (5 s or more,
    whatever came of them), the ok just under the bound is not; an event has no latency and
    is never hung; the longest is the 60 s failure."""
    h = [q(1, "ok", 0.2, 0.2), q(2, "fail", 61.0, 60.0, error="timeout"), q(3, "info", 7.0, 6.0, error="timeout"),
         q(4, "ok", 5.0, 4.9), event("nemesis", "site-down", {"target": "dc2", "phase": "start"}, 70.0),
         q(5, "ok", 1.0, 0.1, f="policy_update")]
    hung = checkers.hung(h)
    assert hung["rag_query"] == checkers.Hung(count=2, longest_s=60.0)
    assert hung["policy_update"] == checkers.Hung(count=0, longest_s=0.1)
    assert checkers.HUNG_S == 5.0 and checkers.hung(h, threshold_s=60.0)["rag_query"].count == 1


def test_figures_carry_hung_and_longest_per_flow():
    from scenarios.compare import figures

    h = [q(1, "ok", 0.2, 0.2), q(2, "fail", 61.0, 60.0), q(3, "info", 7.0, 6.0), q(4, "ok", 5.0, 4.9)]
    fig = figures(h)
    assert fig["hung"] == {"rag_query": 2} and fig["longest_s"] == {"rag_query": 60.0}
    assert fig["failed"] == {"rag_query": 2}  # the same two here; an ok after 60 s would be hung, not failed
