"""Kill, pause and restart components through Docker, and bring them back healthy.

A killed component's WAN proxies are blackholed too (network.blackhole_servers): through
Toxiproxy a dead server would otherwise look alive (the proxy accepts the connection and
only then fails upstream), a failure mode production does not have (DESIGN section 5).
Starting again waits for the kind's own health signal (harness/kinds.py) and does what the
kind needs after a restart (OpenBao: unseal); the state file learns the new addresses.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import docker.errors

from harness.kinds import KINDS
from harness.topology import state as st
from harness.topology.bao import unseal_member
from harness.topology.lab import Lab
from harness.topology.status import probe
from harness.waiting import eventually

READY_TIMEOUT_S = 120.0


def container(lab: Lab, name: str):
    return lab.docker.containers.get(lab.state.component(name).container)


def kill(lab: Lab, names: list[str]) -> list[dict]:
    """SIGKILL each; returns the undo steps (start them again)."""
    def one(name: str) -> None:
        try:
            container(lab, name).kill()
        except docker.errors.APIError as exc:
            if "is not running" not in str(exc):
                raise
    _parallel(one, names)
    return [{"do": "start", "components": list(names)}]


def pause(lab: Lab, names: list[str]) -> list[dict]:
    """SIGSTOP every process of each container: a grey failure (its kernel still completes
    handshakes and buffers bytes, nothing answers). Not `docker pause`: the WAN's liveness
    follower takes that for a frozen host (harness/topology/liveness.py), as a hypervisor's
    pause is, and drops its packets; a stopped process is not a stopped host."""
    _parallel(lambda n: signal_all(container(lab, n), signal.SIGSTOP), names)
    return [{"do": "unpause", "components": list(names)}]


def unpause(lab: Lab, names: list[str]) -> None:
    def one(name: str) -> None:
        c = container(lab, name)
        c.reload()
        if c.status == "paused":
            c.unpause()
        signal_all(c, signal.SIGCONT)
    _parallel(one, names)


def signal_all(c, sig: signal.Signals) -> None:
    """`sig` to every process of a running container, by its host pid (the harness runs on
    the Docker host, as the nemesis's nsenter does); SIGCONT to a running process is a no-op."""
    if c.status != "running":
        return
    try:
        top = c.top(ps_args="-eo pid")
    except docker.errors.APIError:
        return  # it stopped meanwhile
    for row in top.get("Processes") or []:
        try:
            os.kill(int(row[0]), sig)
        except (ProcessLookupError, ValueError):
            pass


def restart(lab: Lab, names: list[str]) -> list[dict]:
    """Stop (SIGTERM, then SIGKILL after 10 s) and start again; returns when healthy."""
    _parallel(lambda n: container(lab, n).stop(timeout=10), names)
    start(lab, names)
    return []


def bounce(lab: Lab, names: list[str]) -> None:
    """Stop and start again without waiting for health: a start that may never be healthy."""
    _parallel(lambda n: container(lab, n).restart(timeout=10), names)
    refresh_addresses(lab, names)


@contextmanager
def cpus_limited(lab: Lab, names: list[str], cpus: float) -> Iterator[None]:
    """Each container held to `cpus` cores (CFS quota) inside the block; 0 leaves them alone."""
    period = 100_000
    if cpus > 0:
        _parallel(lambda n: container(lab, n).update(cpu_period=period, cpu_quota=max(1000, round(cpus * period))), names)
    try:
        yield
    finally:
        if cpus > 0:
            _parallel(lambda n: container(lab, n).update(cpu_quota=-1), names)  # -1: no quota


def start(lab: Lab, names: list[str], timeout_s: float = READY_TIMEOUT_S) -> None:
    """Start the stopped ones, refresh their addresses, wait for health, unseal OpenBao."""
    def one(name: str) -> None:
        c = container(lab, name)
        c.reload()
        if c.status == "paused":
            c.unpause()
        elif c.status != "running":
            c.start()
    _parallel(one, names)
    refresh_addresses(lab, names)
    _parallel(lambda n: ready(lab, n, timeout_s), names)


def ready(lab: Lab, name: str, timeout_s: float = READY_TIMEOUT_S) -> str:
    kind = KINDS[lab.state.component(name).kind]
    if kind.after_restart == "unseal":
        unseal_member(lab.state, name, timeout_s=timeout_s)
    return eventually(lambda: (h := probe(lab.state, name)).startswith("ok") and h,
                      timeout_s=timeout_s, what=f"{name} healthy again", poll_s=0.2)


def refresh_addresses(lab: Lab, names: list[str]) -> None:
    """Docker may give a restarted container another address on its network."""
    changed = False
    for name in names:
        comp = lab.state.component(name)
        c = container(lab, name)
        c.reload()
        ip = c.attrs["NetworkSettings"]["Networks"].get(lab.state.networks[comp.site], {}).get("IPAddress")
        if ip and ip != comp.address:
            lab.state.set_address(name, ip)
            changed = True
    if changed:
        st.save(lab.state, lab.state_file)


def _parallel(fn, names) -> None:
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
        list(pool.map(fn, names))
