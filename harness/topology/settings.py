"""Where the harness keeps the running topology's description: the only env reader here."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class TopologySettings(BaseSettings):
    """`HALAB_TOPOLOGY_*`, e.g. HALAB_TOPOLOGY_STATE_FILE=/tmp/other.json for a second lab."""

    model_config = SettingsConfigDict(env_prefix="HALAB_TOPOLOGY_", extra="ignore")

    state_file: Path = Path.home() / ".local" / "state" / "halab" / "topology.json"
    # Start-up deadline per phase; generous for a 2-core machine under load.
    phase_timeout_s: float = 90.0
    # Threads starting containers at once (docker create/start and health waits overlap).
    parallel_starts: int = 32
