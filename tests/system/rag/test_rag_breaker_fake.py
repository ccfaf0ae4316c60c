"""The LLM circuit breaker on a fake clock: pure logic, no I/O, no waiting."""

from __future__ import annotations

import pytest

from system.rag.breaker import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, s: float) -> None:
        self.now += s


@pytest.fixture
def clock():
    return FakeClock()


def make(clock, failures=3, cool_down_s=5.0) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=failures, cool_down_s=cool_down_s, clock=clock)


def fail(b: CircuitBreaker, n: int = 1, retry_after_s=None) -> None:
    for _ in range(n):
        b.failure(b.acquire(), retry_after_s)


def test_closed_lets_calls_through_and_a_success_resets_the_count(clock):
    b = make(clock)
    fail(b, 2)
    b.success(b.acquire())
    fail(b, 2)
    assert b.state == "closed" and b.consecutive_failures == 2 and b.retry_after_s() is None
    s = b.status()
    assert (s.calls, s.successes, s.failures, s.rejected, s.opened) == (5, 1, 4, 0, 0)


def test_n_failures_in_a_row_open_it_for_the_cool_down(clock):
    b = make(clock)
    fail(b, 3)
    assert b.state == "open" and b.retry_after_s() == 5.0
    assert b.acquire() is None and b.acquire() is None
    clock.advance(4.0)
    assert b.state == "open" and b.retry_after_s() == 1.0 and b.acquire() is None
    s = b.status()
    assert (s.state, s.rejected, s.opened, s.consecutive_failures, s.calls) == ("open", 3, 1, 3, 3)


@pytest.mark.parametrize(("retry_after", "open_for"), [(2.0, 5.0), (30.0, 30.0), (0.0, 5.0)])
def test_a_429_with_retry_after_opens_at_once_for_the_longer_of_it_and_the_cool_down(clock, retry_after, open_for):
    b = make(clock, failures=5)
    fail(b, 1, retry_after_s=retry_after)
    assert b.state == "open" and b.retry_after_s() == open_for
    clock.advance(open_for - 0.001)
    assert b.acquire() is None, "no call before the Retry-After (and the cool-down) has passed"
    clock.advance(0.001)
    assert b.state == "half-open" and b.acquire() is not None


def test_half_open_lets_one_trial_through_and_its_success_closes(clock):
    b = make(clock)
    fail(b, 3)
    clock.advance(5.0)
    assert b.state == "half-open" and b.retry_after_s() == 0.0
    trial = b.acquire()
    assert trial is not None and trial.trial
    assert b.acquire() is None, "one trial at a time"
    assert b.status().trial_in_flight and b.retry_after_s() is None
    b.success(trial)
    assert b.state == "closed" and b.consecutive_failures == 0
    assert b.acquire() is not None and b.acquire() is not None


def test_a_failed_trial_opens_it_again_honouring_its_retry_after(clock):
    b = make(clock)
    fail(b, 3)
    clock.advance(5.0)
    b.failure(b.acquire())
    assert b.state == "open" and b.retry_after_s() == 5.0 and b.status().opened == 2
    clock.advance(5.0)
    b.failure(b.acquire(), retry_after_s=12.0)
    assert b.state == "open" and b.retry_after_s() == 12.0
    clock.advance(12.0)
    b.success(b.acquire())
    assert b.state == "closed"


def test_release_frees_the_trial_slot_and_says_nothing_about_the_llm(clock):
    b = make(clock)
    fail(b, 3)
    clock.advance(5.0)
    trial = b.acquire()
    b.release(trial)
    assert b.state == "half-open" and not b.status().trial_in_flight
    assert b.acquire().trial
    closed = make(FakeClock())
    fail(closed, 2)
    closed.release(closed.acquire())
    assert closed.consecutive_failures == 2 and closed.state == "closed"


def test_calls_from_before_it_opened_neither_close_it_nor_lengthen_it_but_a_retry_after_counts(clock):
    b = make(clock)
    early = [b.acquire() for _ in range(3)]
    fail(b, 3)
    assert b.state == "open"
    b.success(early[0])
    assert b.state == "open", "a late success is no trial"
    b.failure(early[1])
    assert b.retry_after_s() == 5.0, "a late failure does not lengthen the cool-down"
    clock.advance(1.0)
    b.failure(early[2], retry_after_s=20.0)
    assert b.retry_after_s() == 20.0, "a late 429's Retry-After is honoured"


def test_a_trial_success_after_a_late_retry_after_still_closes(clock):
    b = make(clock)
    early = b.acquire()
    fail(b, 3)
    clock.advance(5.0)
    trial = b.acquire()
    b.failure(early, retry_after_s=2.0)
    b.success(trial)
    assert b.state == "closed"


def test_zero_cool_down_goes_half_open_at_once(clock):
    b = make(clock, failures=1, cool_down_s=0.0)
    fail(b, 1)
    assert b.state == "half-open" and b.acquire().trial and b.acquire() is None


@pytest.mark.parametrize(("failures", "cool_down_s"), [(0, 5.0), (3, -1.0), (3, float("inf"))])
def test_bad_parameters_are_refused(failures, cool_down_s):
    with pytest.raises(ValueError):
        CircuitBreaker(failures, cool_down_s)
