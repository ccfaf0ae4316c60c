"""harness/clients without a lab: outcome rules, Server-Timing, arrivals, the recorder, the driver."""

from __future__ import annotations

import doctest
import itertools
import threading

import pytest

import harness.clients.driver as driver_mod
import harness.clients.lab as lab_mod
import harness.clients.server_timing as timing_mod
from harness.clients.driver import arrivals, drive
from harness.clients.recorder import Recorder
from harness.scenario import Load, Stage


@pytest.mark.parametrize("module", [driver_mod, lab_mod, timing_mod])
def test_doctests(module) -> None:
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("status,write,expected", [
    (201, True, ("ok", None)), (400, True, ("fail", "http-400")), (403, False, ("fail", "http-403")),
    (500, True, ("info", "http-500")), (500, False, ("fail", "http-500")), (503, True, ("fail", "http-503")),
    (504, True, ("info", "http-504")),
])
def test_a_write_that_may_have_happened_is_info_and_a_read_never_is_unless_it_timed_out(status, write, expected):
    o = lab_mod.outcome(status, write=write)
    assert (o.type, o.error) == expected


def test_server_timing_keeps_durations_only_and_converts_to_seconds():
    assert timing_mod.parse('a;dur=1.5, b;desc="x";dur=2, c, ;dur=3, d;dur=') == {"a": 0.0015, "b": 0.002}
    assert timing_mod.parse(None) == {}


def test_arrivals_follow_the_stages_rates_and_the_mix():
    load = Load((Stage(100, 20), Stage(100, 0), Stage(100, 60)), mix=(("rag_query", 0.75), ("policy_update", 0.25)))
    plan = arrivals(load, seed=7)
    assert plan == sorted(plan) and plan == arrivals(load, seed=7) and plan != arrivals(load, seed=8)
    counts = [sum(lo <= t < lo + 100 for t, _ in plan) for lo in (0, 100, 200)]
    assert 1700 < counts[0] < 2300 and counts[1] == 0 and 5400 < counts[2] < 6600
    share = sum(f == "policy_update" for _, f in plan) / len(plan)
    assert 0.23 < share < 0.27


def test_recorder_stamps_invokes_and_completions_with_the_latency_between():
    ticks = itertools.count(start=10.0, step=0.5)  # a fake clock: every read advances half a second
    rec = Recorder(clock=lambda: next(ticks))
    a = rec.invoke(1, "rag_query", {"q": 1})
    b = rec.invoke(2, "policy_update")
    done = rec.complete(a, "ok", site="dc1", steps={"gateway": 0.001})
    rec.complete(b, "info", error="timeout", steps={})
    h = rec.history()
    assert [op.type for op in h] == ["invoke", "invoke", "ok", "info"]
    assert (a.time, b.time, done.time, done.latency) == (0.5, 1.0, 1.5, 1.0)
    assert h[3].steps is None and h[3].error == "timeout" and done.steps == {"gateway": 0.001}


def test_drive_starts_every_arrival_and_raises_a_clients_bug_after_the_others_ran():
    seen, lock = [], threading.Lock()

    def run(i, flow, at):
        with lock:
            seen.append((i, flow))

    stats = drive([(0.01 * i, "rag_query") for i in range(20)], run, workers=4)
    assert sorted(seen) == [(i, "rag_query") for i in range(20)] and stats.started == 20 and stats.dropped == 0

    def buggy(i, flow, at):
        if i == 3:
            raise KeyError("no such consumer")
        run(i, flow, at)

    seen.clear()
    with pytest.raises(KeyError, match="no such consumer"):
        drive([(0.02 * i, "rag_query") for i in range(6)], buggy, workers=2)
    assert len(seen) == 5


def test_drive_records_arrivals_that_find_every_slot_busy_as_dropped_at_their_time():
    release = threading.Event()
    dropped = []

    def stuck(i, flow, at):  # a system that hangs: every request waits
        release.wait(5)

    plan = [(0.01 * i, "rag_query") for i in range(10)]
    stats = drive(plan, stuck, workers=3, on_drop=lambda i, flow, at: (dropped.append((i, at)), release.set()
                                                                        if len(dropped) == 7 else None))
    assert stats.started == 3 and stats.dropped == 7
    # The drop is recorded at the arrival's own time, not when a slot would have come free.
    assert [i for i, _ in dropped] == list(range(3, 10))
    assert all(abs(at - 0.01 * i) < 0.05 for i, at in dropped)
