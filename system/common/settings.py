"""What the services' settings classes share.

Secrets (API keys, AppRole secret ids, admin tokens) reach a service in a container as
files, one per setting, named like its environment variable, in SECRETS_DIR: environment
variables would show in `docker inspect` and in the engine's state on disk. Outside a
container the directory is absent and the settings read the environment as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

SECRETS_DIR = Path("/run/halab/secrets")


def secrets_dir() -> str | None:
    return str(SECRETS_DIR) if SECRETS_DIR.is_dir() else None


def split_endpoints(value: str | Sequence[str]) -> list[str]:
    """The etcd endpoints of a comma-separated list (a single endpoint is a list of one).

    >>> split_endpoints(" etcd2:2379, http://etcd1:2379/ ,")
    ['etcd2:2379', 'http://etcd1:2379']
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    out = [item.strip().rstrip("/") for item in items if item.strip()]
    if not out:
        raise ValueError(f"no etcd endpoint in {value!r}")
    return out
