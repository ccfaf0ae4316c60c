"""One history from every Locust process. Each process records its requests in its own
Recorder on a shared wall-clock time 0 (the master's, sent to the workers with the spawn);
a worker sends what it recorded to the master as custom messages (in chunks) when its plan
is done or when it stops; the master merges and writes the run directory.

With workers on other hosts the merge is as good as the hosts' clocks agree (NTP).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from harness.clients.recorder import Recorder
from harness.history import Op

HISTORY, DONE = "halab_history", "halab_done"
CHUNK = 2000


class Collector:
    """This process's recorder, and on the master the merged history."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.recorder: Recorder | None = None
        self._sent = 0
        self.merged: list[Op] = []
        self.done: dict[int, dict] = {}  # slice -> its driver figures

    def start(self, t0: float) -> Recorder:
        with self._lock:
            if self.recorder is None:
                self.recorder = Recorder(clock=time.time, t0=t0)
            return self.recorder

    def flush(self, runner) -> int:
        """Send what this process recorded since the last flush to the master (on a local
        runner, to itself)."""
        if self.recorder is None:
            return 0
        with self._lock:
            ops = self.recorder.history()[self._sent:]
            self._sent += len(ops)
        for i in range(0, len(ops), CHUNK):
            runner.send_message(HISTORY, [op.to_dict() for op in ops[i:i + CHUNK]])
        return len(ops)

    def on_history(self, msg, **_kw) -> None:
        with self._lock:
            self.merged.extend(Op.from_dict(d) for d in msg.data)

    def on_done(self, msg, **_kw) -> None:
        with self._lock:
            self.done[msg.data["slice"]] = msg.data

    def history(self) -> list[Op]:
        with self._lock:
            return sorted(self.merged, key=lambda op: op.time)


def write_t0(out: Path, t0: float) -> None:
    """For `halab load`, whose nemesis and observers record on the same time 0."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "t0.tmp"
    tmp.write_text(f"{t0:.6f}\n", encoding="utf-8")
    tmp.replace(out / "t0")


def read_t0(out: Path) -> float | None:
    try:
        return float((out / "t0").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


COLLECTOR = Collector()
