"""harness.waiting.eventually: returns the first truthy value, reports what it last saw."""

from __future__ import annotations

import itertools

import pytest

from harness.waiting import eventually


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
