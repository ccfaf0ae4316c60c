"""The stub's API keys: one current key and, after a rotation, the previous ones until
their grace period ends.

    ring = KeyRing("k1", grace_s=30)
    ring.rotate("k2")          # "k1" still works for 30 s
    ring.check("k1")           # -> "previous"; ring.check("k2") -> "current"
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable


class KeyRing:
    def __init__(self, key: str | None = None, grace_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._grace_s = grace_s
        self._current = key or None
        self._previous: list[tuple[str, float]] = []  # (key, valid until)
        self._generation = 1 if key else 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """How many keys have been provisioned so far (never the key itself)."""
        return self._generation

    @property
    def provisioned(self) -> bool:
        return self._current is not None

    def rotate(self, new_key: str, grace_s: float | None = None) -> None:
        grace = self._grace_s if grace_s is None else grace_s
        with self._lock:
            if new_key == self._current:
                return
            now = self._clock()
            if self._current is not None and grace > 0:
                self._previous.append((self._current, now + grace))
            self._previous = [(k, t) for k, t in self._previous if t > now and k != new_key]
            self._current = new_key
            self._generation += 1

    def check(self, presented: str | None) -> str | None:
        """"current", "previous" (a rotated key still in its grace period) or None."""
        if not presented:
            return None
        candidate = presented.encode()
        with self._lock:
            now = self._clock()
            current = self._current
            previous = [k for k, t in self._previous if t > now]
        # Compare against every valid key without short-circuit, so timing tells little.
        is_current = hmac.compare_digest(candidate, current.encode()) if current else False
        is_previous = False
        for key in previous:
            is_previous |= hmac.compare_digest(candidate, key.encode())
        if is_current:
            return "current"
        return "previous" if is_previous else None

    def status(self) -> dict:
        with self._lock:
            now = self._clock()
            grace = [round(t - now, 3) for _, t in self._previous if t > now]
        return {"provisioned": self._current is not None, "generation": self._generation,
                "previous_keys_in_grace": len(grace), "grace_remaining_s": grace}
