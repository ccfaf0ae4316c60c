"""What the services' settings classes share.

Secrets (API keys, AppRole secret ids, admin tokens) reach a service in a container as
files, one per setting, named like its environment variable, in SECRETS_DIR: environment
variables would show in `docker inspect` and in the engine's state on disk. Outside a
container the directory is absent and the settings read the environment as usual.
"""

from __future__ import annotations

from pathlib import Path

SECRETS_DIR = Path("/run/halab/secrets")


def secrets_dir() -> str | None:
    return str(SECRETS_DIR) if SECRETS_DIR.is_dir() else None
