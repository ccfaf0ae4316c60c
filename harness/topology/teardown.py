"""Remove everything a run (or every run) left, by the `halab` label.

Containers are killed all at once (that is what makes `down` fast: a seed topology holds two
dozen of them), then removed a few at a time: Docker 20.10's libnetwork can leak an endpoint
count when many containers leave one network concurrently, and a leaked count makes the
network impossible to remove until the engine restarts. Networks go last, with retries
while the engine releases endpoints; one that stays stuck is reported, not fatal, so `down`
always removes everything else.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import docker.errors

from harness.labels import LABEL
from harness.waiting import eventually

log = logging.getLogger(__name__)
KILL_WORKERS = 16
REMOVE_WORKERS = 4


def remove_all(client, run_id: str | None = None) -> tuple[int, int, int]:
    selector = f"{LABEL}={run_id}" if run_id else LABEL
    containers = client.containers.list(all=True, filters={"label": selector})

    def kill(c) -> None:
        try:
            if c.status in ("running", "paused", "restarting"):
                c.kill()
        except docker.errors.APIError:
            pass  # already stopped, or going: removal below forces it anyway

    def rm(c) -> None:
        try:
            c.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:  # "removal already in progress" from a racing down
            if "in progress" not in str(exc):
                raise

    with ThreadPoolExecutor(max_workers=KILL_WORKERS) as pool:
        list(pool.map(kill, containers))
    with ThreadPoolExecutor(max_workers=REMOVE_WORKERS) as pool:
        list(pool.map(rm, containers))
    networks = client.networks.list(filters={"label": selector})
    removed = sum(_remove_network(n) for n in networks)
    volumes = client.volumes.list(filters={"label": selector})
    for v in volumes:
        try:
            v.remove(force=True)
        except docker.errors.NotFound:
            pass
    return len(containers), removed, len(volumes)


def stuck_networks(client, run_id: str | None = None) -> list[str]:
    """Labelled networks still present (after `remove_all`: the ones the engine would not let go)."""
    selector = f"{LABEL}={run_id}" if run_id else LABEL
    return [n.name for n in client.networks.list(filters={"label": selector})]


class _StillAttached(Exception):
    """The engine kept an endpoint on the network past the deadline."""


def _remove_network(network, timeout_s: float = 10.0) -> bool:
    def removed() -> bool:
        try:
            network.remove()
            return True
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc):
                raise
        try:  # whatever is still attached (a container started by hand on our network, say)
            network.reload()
            for c in network.containers:
                network.disconnect(c, force=True)
        except docker.errors.APIError:
            pass
        return False

    try:
        return eventually(removed, timeout_s, poll_s=0.2, retry=(), error=lambda _w: _StillAttached())
    except _StillAttached:
        log.warning("network %s keeps an endpoint the engine leaked; it goes with the next "
                    "engine restart (`systemctl restart docker` or restarting dockerd)", network.name)
        return False
