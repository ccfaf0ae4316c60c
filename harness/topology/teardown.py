"""Remove everything a run (or every run) left, by the `halab` label, containers in parallel.

Like harness.labels.remove_labelled, but containers go concurrently: a seed topology holds
two dozen containers and a sequential `docker rm -f` of each would eat most of `down`'s
15 s budget. Networks go after their containers, then volumes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import time

import docker.errors

from harness.labels import LABEL


def remove_all(client, run_id: str | None = None, workers: int = 16) -> tuple[int, int, int]:
    selector = f"{LABEL}={run_id}" if run_id else LABEL
    containers = client.containers.list(all=True, filters={"label": selector})

    def rm(c) -> None:
        try:
            c.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:  # "removal already in progress" from a racing down
            if "in progress" not in str(exc):
                raise

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(rm, containers))
    networks = client.networks.list(filters={"label": selector})
    for n in networks:
        _remove_network(n)
    volumes = client.volumes.list(filters={"label": selector})
    for v in volumes:
        try:
            v.remove(force=True)
        except docker.errors.NotFound:
            pass
    return len(containers), len(networks), len(volumes)


def _remove_network(network, timeout_s: float = 15.0) -> None:
    """The engine may still be releasing a just-removed container's endpoint: retry, and
    disconnect whatever is left (a container started by hand on our network, say)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            network.remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc) or time.monotonic() > deadline:
                raise
        try:
            network.reload()
            for c in network.containers:
                network.disconnect(c, force=True)
        except docker.errors.APIError:
            pass
        time.sleep(0.2)
