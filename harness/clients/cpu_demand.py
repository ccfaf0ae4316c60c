"""The CPU each request costs each component, measured on the running lab (issue 32): the
model's `cpu_s` (simulation/params.py), from the containers' cgroup counters.

One flow at a time, an open-loop load of that flow alone; each container's CPU over the load,
less what it burns idle over as long (health checks, Raft heartbeats, resyncs: the lab's
background, which is no request's), divided by the requests that completed. The measuring
client's own CPU (this process) is the `client` pseudo-kind: on the lab it shares the host's
cores with everything else. Containers are summed by kind (both DCs' gateways are `gateway`);
the lab's own plumbing (the WAN proxy, the ingress) is kept under its container role.

    >>> per_request({"gateway1": 2.0, "gateway2": 1.0}, {"gateway1": 0.5, "gateway2": 0.5}, 100, {"gateway1": "gateway", "gateway2": "gateway"})
    {'gateway': 0.02}
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from harness.clients.measure import measure
from harness.scenario import POLICY_UPDATE, RAG_QUERY, Load, Scenario, Stage
from harness.topology.lab import Lab

# cgroup v1 (cpuacct, nanoseconds) and v2 (cpu.stat's usage_usec), the layouts Docker uses.
_V1 = "/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage"
_V2 = ("/sys/fs/cgroup/system.slice/docker-{id}.scope/cpu.stat", "/sys/fs/cgroup/docker/{id}/cpu.stat")


def cpu_seconds(container_id: str) -> float:
    """CPU seconds a container has used since it started (its cgroup's counter)."""
    v1 = Path(_V1.format(id=container_id))
    if v1.is_file():
        return int(v1.read_text()) / 1e9
    for pattern in _V2:
        v2 = Path(pattern.format(id=container_id))
        if v2.is_file():
            stat = dict(line.split() for line in v2.read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
    raise FileNotFoundError(f"no cgroup CPU counter for container {container_id[:12]} (tried cgroup v1 and v2 under /sys/fs/cgroup)")


def snapshot(lab: Lab) -> dict[str, float]:
    """Container name -> CPU seconds, for every container of the run."""
    return {c.name: cpu_seconds(c.id) for c in lab.docker.containers.list(filters={"label": f"halab={lab.run_id}"})}


def per_request(used: dict[str, float], idle: dict[str, float], completed: int, kinds: dict[str, str]) -> dict[str, float]:
    """Seconds per request by kind: (used - idle) summed over a kind's containers, / completed."""
    out: dict[str, float] = {}
    for name, seconds in used.items():
        kind = kinds.get(name, name)
        out[kind] = out.get(kind, 0.0) + max(0.0, seconds - idle.get(name, 0.0))
    return {k: round(v / completed, 6) for k, v in sorted(out.items())} if completed else {}


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {n: after[n] - before[n] for n in after if n in before}


def _kinds(lab: Lab) -> dict[str, str]:
    """Container name -> kind; the lab's plumbing by its role (`wan`, `ingress`, ...)."""
    out = {c["container"]: c["kind"] for c in lab.state.components.values()}
    tag = lab.plan.tag
    for c in lab.docker.containers.list(filters={"label": f"halab={lab.run_id}"}):
        out.setdefault(c.name, c.name.removesuffix(f"-{tag}"))
    return out


def _load_alone(lab: Lab, scenario: Scenario, seed: int) -> tuple[list, dict, dict[str, float], float, float]:
    """measure()'s history and stats, each container's CPU seconds and this process's over the
    load alone (the workload's setup, the policies it writes first, is no request's), and how
    long the load took."""
    marks: dict = {}

    @contextlib.contextmanager
    def load_only(_recorder):
        marks["before"], marks["wall"], marks["client"] = snapshot(lab), time.monotonic(), _process_s()
        yield
        marks["elapsed"], marks["after"], marks["spent"] = time.monotonic() - marks["wall"], snapshot(lab), _process_s()

    history, stats = measure(lab, scenario, seed=seed, during=load_only)
    return history, stats, _delta(marks["before"], marks["after"]), marks["spent"] - marks["client"], marks["elapsed"]


def _process_s() -> float:
    t = os.times()
    return t.user + t.system


def demand(lab: Lab, flows: tuple[str, ...] = (RAG_QUERY, POLICY_UPDATE), rps: float = 10.0, duration_s: float = 30.0,
           seed: int = 0, progress: Callable[[str], None] = print) -> dict:
    """Measure each flow's CPU per request; returns a params-file fragment and what was seen."""
    kinds = _kinds(lab)
    progress(f"idle for {duration_s:g} s (the lab's background CPU) ...")
    before, wall = snapshot(lab), time.monotonic()
    time.sleep(duration_s)  # the measurement is of a span of time: idle is a span too
    idle_rate = {n: s / (time.monotonic() - wall) for n, s in _delta(before, snapshot(lab)).items()}
    cpu_s, seen = {}, {"idle_cores": {}, "flows": {}}
    for name, rate in idle_rate.items():
        seen["idle_cores"][kinds.get(name, name)] = round(seen["idle_cores"].get(kinds.get(name, name), 0.0) + rate, 4)
    for flow in flows:
        progress(f"{flow} alone at {rps:g}/s for {duration_s:g} s ...")
        scenario = Scenario(f"cpu-{flow}", Load((Stage(duration_s, rps),), ((flow, 1.0),)))
        history, stats, used, client_s, elapsed = _load_alone(lab, scenario, seed)
        completed = sum(1 for op in history if op.type == "ok" and op.f == flow)
        idle = {n: r * elapsed for n, r in idle_rate.items()}
        cpu_s[flow] = per_request(used, idle, completed, kinds)
        cpu_s[flow]["client"] = round(client_s / completed, 6) if completed else 0.0
        seen["flows"][flow] = {"completed": completed, "requests": stats["requests"], "dropped": stats["dropped"],
                               "seconds": round(elapsed, 2), "host_cores_busy": round(sum(used.values()) / elapsed, 3)}
    return {"cpu_s": cpu_s, "cpu": "host", "host_cores": os.cpu_count() or 1, "measured": seen}
