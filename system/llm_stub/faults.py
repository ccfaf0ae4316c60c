"""Fault modes set at runtime: errors, 429 with Retry-After, hangs.

    faults = Faults(seed=1)
    faults.configure(FaultConfig(rate_limit_rate=1.0, retry_after_s=2))
    faults.draw()   # -> Fault(kind="rate_limit", status=429, retry_after_s=2)

Rates are probabilities per request drawn from a seeded stream; `next_n` limits the faults
to the next n requests (then the stub is healthy again).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from pydantic import BaseModel, Field


class FaultConfig(BaseModel):
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    error_status: int = Field(500, ge=500, le=599)
    rate_limit_rate: float = Field(0.0, ge=0.0, le=1.0)
    retry_after_s: int = Field(1, ge=0, le=3600)
    hang_rate: float = Field(0.0, ge=0.0, le=1.0)
    # How long a hang (or a stall) lasts; clients are expected to time out well before.
    hang_s: float = Field(3600.0, ge=0.0, le=86400.0)
    # A stall: a streamed answer stops after `stall_after_tokens` tokens and hangs (headers
    # and the first chunks already sent); a non-streamed one hangs like `hang`.
    stall_rate: float = Field(0.0, ge=0.0, le=1.0)
    stall_after_tokens: int = Field(3, ge=0, le=100_000)
    # Only the next n requests may fault (None: no limit).
    next_n: int | None = Field(None, ge=0)


@dataclass(frozen=True)
class Fault:
    kind: str  # "error" | "rate_limit" | "hang" | "stall"
    status: int = 0
    retry_after_s: int = 0
    hang_s: float = 0.0
    after_tokens: int = 0


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._config = FaultConfig()
        self._budget: int | None = None
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {"error": 0, "rate_limit": 0, "hang": 0, "stall": 0}

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig, seed: int | None = None) -> None:
        with self._lock:
            self._config = config
            self._budget = config.next_n
            if seed is not None:
                self._rng = random.Random(seed)

    def clear(self) -> None:
        self.configure(FaultConfig())

    def draw(self) -> Fault | None:
        with self._lock:
            c = self._config
            if self._budget is not None and self._budget <= 0:
                return None
            if c.error_rate == c.rate_limit_rate == c.hang_rate == c.stall_rate == 0.0:
                return None
            if self._budget is not None:
                self._budget -= 1
            u = self._rng.random()
            fault = None
            if u < c.error_rate:
                fault = Fault("error", status=c.error_status)
            elif u < c.error_rate + c.rate_limit_rate:
                fault = Fault("rate_limit", status=429, retry_after_s=c.retry_after_s)
            elif u < c.error_rate + c.rate_limit_rate + c.hang_rate:
                fault = Fault("hang", hang_s=c.hang_s)
            elif u < c.error_rate + c.rate_limit_rate + c.hang_rate + c.stall_rate:
                fault = Fault("stall", hang_s=c.hang_s, after_tokens=c.stall_after_tokens)
            if fault is not None:
                self.injected[fault.kind] += 1
            return fault

    def status(self) -> dict:
        with self._lock:
            return {"config": self._config.model_dump(), "remaining": self._budget,
                    "injected": dict(self.injected)}
