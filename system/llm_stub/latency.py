"""A seeded latency model: time to first token and tokens per second.

    model = LatencyModel(ttft_ms=200, tokens_per_s=50, seed=7)
    model.sample()   # -> Timing(ttft_s=0.21..., per_token_s=0.02)

Draws come from one seeded stream, so two stubs with the same seed and the same sequence of
requests wait exactly the same times.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    ttft_s: float
    per_token_s: float


@dataclass
class LatencyModel:
    ttft_ms: float = 200.0
    ttft_sigma: float = 0.25
    tokens_per_s: float = 50.0
    zero: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)

    def sample(self) -> Timing:
        if self.zero:
            return Timing(0.0, 0.0)
        with self._lock:
            # Lognormal with median ttft_ms: a long right tail, as real providers show.
            factor = math.exp(self._rng.gauss(0.0, self.ttft_sigma)) if self.ttft_sigma > 0 else 1.0
        ttft = max(0.0, self.ttft_ms * factor / 1000.0)
        per_token = 1.0 / self.tokens_per_s if self.tokens_per_s > 0 else 0.0
        return Timing(ttft, per_token)

    def describe(self) -> dict:
        return {"ttft_ms": self.ttft_ms, "ttft_sigma": self.ttft_sigma,
                "tokens_per_s": self.tokens_per_s, "zero": self.zero, "seed": self.seed}
