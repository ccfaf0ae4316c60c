"""Settings of a vectordb node; the only module here that reads the environment.

Env prefix `HALAB_VECTORDB_`, e.g. `HALAB_VECTORDB_PEER_URL=http://vectordb-dc2:8000`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from system.common.settings import secrets_dir


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HALAB_VECTORDB_", extra="ignore", secrets_dir=secrets_dir())

    host: str = "0.0.0.0"
    # The platform's convention; set 6333 to sit where a real Qdrant would.
    port: int = 8000
    node_id: str = "vectordb"
    # The other DC's node; None: a single node, no replication. `peers` (comma-separated, as
    # the topology passes it) is the same thing; replication is two-node, so the first counts.
    peer_url: str | None = None
    peers: str = ""
    # Holds the operation log (and the node's identity), replayed at start. None: memory only
    # (a restart is a new, empty node that the peer refills).
    data_dir: Path | None = None
    fsync: bool = False
    # Default write consistency of collections that do not set write_consistency_factor.
    write_consistency: int = 1
    consistency_timeout_s: float = 5.0
    heartbeat_s: float = 0.5
    retry_max_s: float = 2.0
    # Like Qdrant's service.api_key: required in `api-key` (or Authorization: Bearer) when set.
    api_key: SecretStr | None = None
    max_body_bytes: int = 64 << 20
    log_level: str = "info"

    @property
    def peer(self) -> str | None:
        if self.peer_url:
            return self.peer_url
        urls = [u.strip() for u in self.peers.split(",") if u.strip()]
        return urls[0] if urls else None

    @property
    def extra_peers(self) -> list[str]:
        urls = [u.strip() for u in self.peers.split(",") if u.strip()]
        return [u for u in urls if u != self.peer]
