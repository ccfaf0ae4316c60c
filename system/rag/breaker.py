"""A circuit breaker for the LLM call: pure logic, the clock injected, no I/O.

closed: every call goes through; `failure_threshold` failures in a row, or one 429 with a
Retry-After, open it. open: no call goes through for max(Retry-After, `cool_down_s`).
half-open (the open time has passed): one trial call goes through, the others are refused
while it runs; its success closes the breaker, its failure opens it again.

    >>> now = [0.0]
    >>> b = CircuitBreaker(failure_threshold=2, cool_down_s=5.0, clock=lambda: now[0])
    >>> b.failure(b.acquire()); b.failure(b.acquire()); b.state
    'open'
    >>> b.acquire() is None, b.retry_after_s()
    (True, 5.0)
    >>> now[0] = 5.0
    >>> trial = b.acquire(); b.state, trial.trial, b.acquire()
    ('half-open', True, None)
    >>> b.success(trial); b.state
    'closed'
    >>> b.failure(b.acquire(), retry_after_s=30); b.retry_after_s()   # Retry-After over the cool-down
    30.0

Every call `acquire()` hands out must end in `success`, `failure` or `release` (an outcome
that says nothing about the LLM, such as a refusal or a cancelled request): a trial that is
never ended keeps the breaker half-open and refusing. Calls that were under way when the
breaker opened end later: their successes do not close it, their failures do not lengthen
the cool-down, but a Retry-After they bring is honoured.

The query path's settings (`HALAB_RAG_LLM_BREAKER_FAILURES`, `..._COOL_DOWN_S`) are in
settings.py; the state is at the service's `GET /status`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half-open"]


@dataclass(frozen=True, eq=False)
class Call:
    """One call the breaker let through; `trial`: the half-open state's single probe."""

    trial: bool = False


@dataclass(frozen=True)
class BreakerStatus:
    """The breaker at one moment: state, seconds until a trial may go, counters since start."""

    state: State
    retry_after_s: float | None
    consecutive_failures: int
    failure_threshold: int
    cool_down_s: float
    trial_in_flight: bool
    calls: int
    successes: int
    failures: int
    rejected: int
    opened: int


class CircuitBreaker:
    def __init__(self, failure_threshold: int = 5, cool_down_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        if failure_threshold < 1 or cool_down_s < 0 or not math.isfinite(cool_down_s):
            raise ValueError("failure_threshold >= 1 and a finite cool_down_s >= 0")
        self.failure_threshold = failure_threshold
        self.cool_down_s = cool_down_s
        self.clock = clock
        self._open_until: float | None = None  # None: closed
        self._trial: Call | None = None
        self.consecutive_failures = 0
        self.calls = self.successes = self.failures = self.rejected = self.opened = 0

    @property
    def state(self) -> State:
        if self._open_until is None:
            return "closed"
        return "open" if self.clock() < self._open_until else "half-open"

    def retry_after_s(self) -> float | None:
        """Seconds until a call may go through again: None while closed, or while a trial runs."""
        if self._open_until is None or self._trial is not None:
            return None
        return round(max(0.0, self._open_until - self.clock()), 3)

    def acquire(self) -> Call | None:
        """A call to make, or None: the breaker is open (or half-open with its trial out)."""
        state = self.state
        if state == "closed":
            call = Call()
        elif state == "half-open" and self._trial is None:
            call = self._trial = Call(trial=True)
        else:
            self.rejected += 1
            return None
        self.calls += 1
        return call

    def success(self, call: Call) -> None:
        self.successes += 1
        if call is self._trial:
            self._trial = None
            self._open_until = None
            self.consecutive_failures = 0
        elif self._open_until is None:
            self.consecutive_failures = 0

    def failure(self, call: Call, retry_after_s: float | None = None) -> None:
        """A failed call; `retry_after_s`: the LLM said when to come back (a 429's Retry-After)."""
        self.failures += 1
        self.consecutive_failures += 1
        now = self.clock()
        if call is self._trial:
            self._trial = None
            self._open(now, retry_after_s)
        elif self._open_until is None:
            if retry_after_s is not None or self.consecutive_failures >= self.failure_threshold:
                self._open(now, retry_after_s)
        elif retry_after_s is not None:
            # A call from before the breaker opened brings a Retry-After: no call before it passes.
            self._open_until = max(self._open_until, now + retry_after_s)

    def release(self, call: Call) -> None:
        """The call ended saying nothing about the LLM: a trial's slot is free for the next call."""
        if call is self._trial:
            self._trial = None

    def status(self) -> BreakerStatus:
        return BreakerStatus(state=self.state, retry_after_s=self.retry_after_s(),
                             consecutive_failures=self.consecutive_failures, failure_threshold=self.failure_threshold,
                             cool_down_s=self.cool_down_s, trial_in_flight=self._trial is not None, calls=self.calls,
                             successes=self.successes, failures=self.failures, rejected=self.rejected, opened=self.opened)

    def _open(self, now: float, retry_after_s: float | None) -> None:
        self.opened += 1
        self._open_until = now + max(retry_after_s or 0.0, self.cool_down_s)
