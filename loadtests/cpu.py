"""CPU used by each of the lab's containers over an interval, from the counters `docker
stats` reads (the container's cgroup: cpuacct.usage in v1, cpu.stat's usage_usec in v2).
Reading them directly costs nothing, where `docker stats` takes a second per container.
"""

from __future__ import annotations

import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _paths(cid: str) -> list[tuple[Path, float]]:
    """Where a container's CPU counter can be, and its unit in seconds."""
    return [(ROOT / "cpuacct" / "docker" / cid / "cpuacct.usage", 1e-9),
            (ROOT / "system.slice" / f"docker-{cid}.scope" / "cpu.stat", 1e-6),
            (ROOT / "docker" / cid / "cpu.stat", 1e-6)]


def cpu_seconds(cid: str) -> float | None:
    for path, unit in _paths(cid):
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.name == "cpu.stat":
            fields = dict(line.split() for line in text.splitlines() if line.strip())
            return int(fields["usage_usec"]) * unit
        return int(text) * unit
    return None


class CpuMeter:
    """`containers`: name -> full container id. `start()`, then `cores()`: name -> cores used
    on average since (1.0 is one core busy all the time)."""

    def __init__(self, containers: dict[str, str]) -> None:
        self.containers = containers
        self._t0 = 0.0
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._before = {n: s for n, cid in self.containers.items() if (s := cpu_seconds(cid)) is not None}

    def cores(self) -> dict[str, float]:
        dt = time.monotonic() - self._t0
        out = {}
        for name, before in self._before.items():
            after = cpu_seconds(self.containers[name])
            if after is not None and dt > 0:
                out[name] = round((after - before) / dt, 3)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def lab_containers(docker_client, run_id: str) -> dict[str, str]:
    """The run's containers by component name (`rag1-<run suffix>` -> `rag1`)."""
    from harness.labels import LABEL

    found = docker_client.containers.list(filters={"label": f"{LABEL}={run_id}"})
    return {c.name.rsplit("-", 1)[0]: c.id for c in found}
