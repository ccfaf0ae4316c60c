"""Wait on a condition, never on the clock.

    eventually(lambda: etcd_has_two_members(), timeout_s=20, what="etcd membership")

Polls until the predicate returns something truthy and returns that; a predicate that raises
counts as "not yet". On timeout, AssertionError names what was awaited and the last value or
error seen, so a failing test says why.

Code that is not a test waits the same way and keeps its own failure: `error` builds the
exception to raise from what the wait saw (`Waited`), `retry` narrows which exceptions mean
"not yet" (any other one propagates at once), `fatal` names exceptions that end the wait at
once even though `retry` would cover them (a container that exited), and a predicate returns
`Pending(why)` for a "not yet" that says why:

    >>> eventually(lambda: Pending("503 busy"), timeout_s=0.02, poll_s=0.01,
    ...            error=lambda w: RuntimeError(f"no answer within {w.timeout_s} s (last: {w.last})"))
    Traceback (most recent call last):
    RuntimeError: no answer within 0.02 s (last: 503 busy)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Pending:
    """A falsy result that says why the condition does not hold yet (shown as `last`).

    >>> bool(Pending(503)), str(Pending(503)), Pending("joining")
    (False, '503', Pending('joining'))
    """

    __slots__ = ("why",)

    def __init__(self, why: object) -> None:
        self.why = why

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return str(self.why)

    def __repr__(self) -> str:
        return f"Pending({self.why!r})"


@dataclass
class Waited:
    """What a wait saw by its deadline: `error=` builds the exception to raise from it."""

    what: str
    timeout_s: float
    last: object = None  # the last falsy result or "not yet" exception
    error: BaseException | None = None  # the last "not yet" exception (later falsy results keep it)


def _not_reached(w: Waited) -> AssertionError:
    return AssertionError(f"{w.what} not reached within {w.timeout_s} s (last: {w.last!r})")


def eventually(predicate: Callable[[], T], timeout_s: float = 20.0, what: str = "condition",
               poll_s: float = 0.05, *, error: Callable[[Waited], BaseException] = _not_reached,
               retry: tuple[type[BaseException], ...] = (Exception,),
               fatal: tuple[type[BaseException], ...] = ()) -> T:
    """The first truthy value of `predicate()`, polled every `poll_s` for `timeout_s` seconds.

    >>> import itertools
    >>> calls = itertools.count()
    >>> eventually(lambda: next(calls) >= 2 and "ready", timeout_s=1, poll_s=0)
    'ready'
    """
    deadline = time.monotonic() + timeout_s
    seen = Waited(what, timeout_s)
    while True:
        try:
            value = predicate()
        except fatal:
            raise
        except retry as exc:  # not yet; reported if it never clears
            seen.last = seen.error = exc
        else:
            if value:
                return value
            seen.last = value
        if time.monotonic() >= deadline:
            raise error(seen)
        time.sleep(poll_s)
