"""harness.waiting.eventually: returns the first truthy value, reports what it last saw."""

from __future__ import annotations

import itertools

import pytest

from harness.waiting import Pending, eventually


def test_returns_the_first_truthy_value() -> None:
    calls = itertools.count()
    assert eventually(lambda: next(calls) >= 3 and "ready", timeout_s=5, poll_s=0) == "ready"


def test_an_exception_is_not_yet_and_is_reported_on_timeout() -> None:
    def boom():
        raise ConnectionError("etcd refused")

    with pytest.raises(AssertionError, match=r"etcd back not reached within 0.05 s \(last: ConnectionError"):
        eventually(boom, timeout_s=0.05, what="etcd back", poll_s=0.01)


def test_a_falsy_value_is_reported_on_timeout() -> None:
    with pytest.raises(AssertionError, match=r"last: \[\]"):
        eventually(lambda: [], timeout_s=0.02, poll_s=0.01)


def test_the_callers_error_is_built_from_what_the_wait_saw() -> None:
    class StartupError(RuntimeError):
        pass

    results = iter([ConnectionError("refused"), False, False, False, False, False])

    def probe():
        r = next(results, False)
        if isinstance(r, Exception):
            raise r
        return r

    with pytest.raises(StartupError, match=r"^etcd not healthy after 0 s \(refused\)$"):
        eventually(probe, timeout_s=0.03, poll_s=0.01,
                   error=lambda w: StartupError(f"etcd not healthy after {w.timeout_s:.0f} s ({w.error or ''})"))


def test_pending_says_why_and_is_the_last_seen() -> None:
    with pytest.raises(RuntimeError, match=r"\(last: 503 busy\)"):
        eventually(lambda: Pending("503 busy"), timeout_s=0.02, poll_s=0.01,
                   error=lambda w: RuntimeError(f"no answer (last: {w.last})"))


def test_only_retry_exceptions_are_not_yet_and_the_last_can_be_raised_itself() -> None:
    def refused():
        raise KeyError("no such consumer")

    with pytest.raises(KeyError):  # not in retry: at once, not after the timeout
        eventually(refused, timeout_s=60, retry=(ConnectionError,))
    calls = itertools.count()

    def flaky():
        raise ConnectionError(f"attempt {next(calls)}")

    with pytest.raises(ConnectionError, match=r"attempt [1-9]"):
        eventually(flaky, timeout_s=0.03, poll_s=0.01, retry=(ConnectionError,), error=lambda w: w.error)


def test_a_fatal_exception_ends_the_wait_at_once() -> None:
    class Exited(ConnectionError):
        pass

    calls = itertools.count()

    def probe():
        if next(calls) == 2:
            raise Exited("container exited")
        raise ConnectionError("not yet")

    with pytest.raises(Exited):
        eventually(probe, timeout_s=60, poll_s=0, fatal=(Exited,))
    assert next(calls) == 3
