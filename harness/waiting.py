"""Wait on a condition, never on the clock.

    eventually(lambda: etcd_has_two_members(), timeout_s=20, what="etcd membership")

Polls until the predicate returns something truthy and returns that; a predicate that raises
counts as "not yet". On timeout, AssertionError names what was awaited and the last value or
error seen, so a failing test says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(predicate: Callable[[], T], timeout_s: float = 20.0, what: str = "condition",
               poll_s: float = 0.05) -> T:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as exc:  # noqa: BLE001 - not yet; reported if it never clears
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout_s} s (last: {last!r})")
        time.sleep(poll_s)
