"""The nemesis on the real seed lab: a one-way cut is one way, a dead site looks dead from the
other side (connect timeouts, not a proxy that accepts), and `halab heal` from another process
undoes what this one left active."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from chaos import network
from chaos.nemesis import Nemesis, wait_healthy

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def connects(ip: str, port: int, timeout_s: float = 1.5) -> str:
    try:
        with socket.create_connection((ip, port), timeout=timeout_s):
            return "open"
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return type(exc).__name__


def listener(lab, client_site: str, server: str) -> tuple[str, int]:
    route = next(r for r in lab.routes if r.client_site == client_site and r.server == server)
    return network.listen_ips(lab)[client_site], route.port


def test_a_one_way_partition_cuts_only_that_direction(seed_lab):
    with Nemesis(seed_lab) as n:
        f = n.start("partition", "dc1->dc2")
        assert connects(*listener(seed_lab, "dc1", "etcd2")) == "timeout"   # dc1 cannot reach dc2
        assert connects(*listener(seed_lab, "dc2", "etcd1")) == "open"      # dc2 still reaches dc1
        n.stop(f)
        assert connects(*listener(seed_lab, "dc1", "etcd2")) == "open"


def test_a_dead_site_gives_connect_timeouts_or_refusals_as_asked(seed_lab):
    with Nemesis(seed_lab) as n:
        f = n.start("site-down", "dc2")
        assert connects(*listener(seed_lab, "edge", "gateway2")) == "timeout"
        n.stop(f)
        f = n.start("component-down", "gateway2", {"mode": "reject"})
        assert connects(*listener(seed_lab, "edge", "gateway2")) == "refused"
        n.stop(f)
    wait_healthy(seed_lab)


def test_halab_heal_from_another_process_undoes_what_this_one_left(seed_lab):
    n = Nemesis(seed_lab)
    rag2 = seed_lab.docker.containers.get(seed_lab.state.components["rag2"]["container"])
    n.start("pause", "rag2")
    assert _process_states(rag2) == {"T"}  # SIGSTOP: stopped processes in a running container
    n.start("latency", "dc1,dc2", {"latency_ms": 300})
    cms2 = seed_lab.docker.containers.get(seed_lab.state.components["cms2"]["container"])
    cms2.update(cpu_period=100_000, cpu_quota=30_000)  # a starved restart (-o cpus=0.3) cut short
    env = dict(os.environ, HALAB_TOPOLOGY_STATE_FILE=str(seed_lab.state_file))
    listed = subprocess.run([sys.executable, "-m", "harness.cli", "faults"], env=env, capture_output=True, text=True)
    assert "pause" in listed.stdout and "latency" in listed.stdout, listed.stdout + listed.stderr
    healed = subprocess.run([sys.executable, "-m", "harness.cli", "heal"], env=env, capture_output=True, text=True)
    assert healed.returncode == 0 and "healed 2 fault(s)" in healed.stdout, healed.stdout + healed.stderr
    assert n.active() == []
    assert seed_lab.docker.containers.get(seed_lab.state.components["rag2"]["container"]).status == "running"
    assert "T" not in _process_states(rag2)
    cms2.reload()
    assert cms2.attrs["HostConfig"]["CpuQuota"] <= 0
    toxics = {t["name"] for p in seed_lab.wan.proxies().values() for t in p.get("toxics") or []}
    assert all(t.startswith("baseline_") for t in toxics), toxics


def _process_states(c) -> set[str]:
    """The states (R, S, T, ...) of a container's processes, read from the host's /proc."""
    pids = [row[0] for row in c.top(ps_args="-eo pid")["Processes"]]
    return {open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] for pid in pids}
