"""The Docker label every container, network and volume halab starts carries.

`halab down` and the test fixtures find what to remove by this label alone, so a crashed
run never leaves anything that cannot be found again.
"""

from __future__ import annotations

import os
import time

LABEL = "halab"
# Extra labels say what a resource is, for `status` and for humans reading `docker ps`.
COMPONENT_LABEL = "halab.component"
SITE_LABEL = "halab.site"


def new_run_id(prefix: str = "run") -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def labels(run_id: str, **extra: str) -> dict[str, str]:
    out = {LABEL: run_id}
    for key, value in extra.items():
        out[f"{LABEL}.{key}"] = value
    return out


def remove_labelled(client, run_id: str | None = None) -> tuple[int, int, int]:
    """Remove containers, then networks, then volumes with the halab label.

    With `run_id`, only that run's; without, every run's (what `down` does after a crash).
    Returns how many of each were removed.
    """
    selector = f"{LABEL}={run_id}" if run_id else LABEL
    containers = client.containers.list(all=True, filters={"label": selector})
    for c in containers:
        c.remove(force=True, v=True)
    networks = client.networks.list(filters={"label": selector})
    for n in networks:
        n.remove()
    volumes = client.volumes.list(filters={"label": selector})
    for v in volumes:
        v.remove(force=True)
    return len(containers), len(networks), len(volumes)
