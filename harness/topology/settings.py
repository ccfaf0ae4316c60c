"""Where the harness keeps the running topology's description: the only env reader here."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class TopologySettings(BaseSettings):
    """`HALAB_TOPOLOGY_*`, e.g. HALAB_TOPOLOGY_STATE_FILE=/tmp/other.json for a second lab."""

    model_config = SettingsConfigDict(env_prefix="HALAB_TOPOLOGY_", extra="ignore")

    state_file: Path = Path.home() / ".local" / "state" / "halab" / "topology.json"
    # Start-up deadlines (per phase, per container's health); generous for a 2-core machine
    # shared with other work: they bound a failure, they do not slow a good start.
    phase_timeout_s: float = 180.0
    ready_timeout_s: float = 180.0
    # The VIP's port on 127.0.0.1; 0: any free port (the state file and `halab status` say which).
    vip_port: int = 0
    # Threads starting containers at once (docker create/start and health waits overlap).
    parallel_starts: int = 32
