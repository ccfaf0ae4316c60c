"""Settings of a vectordb node; the only module here that reads the environment.

Env prefix `HALAB_VECTORDB_`, e.g. `HALAB_VECTORDB_PEERS=http://vectordb2:8000,http://vectordb3:8000`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from system.common.settings import secrets_dir


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HALAB_VECTORDB_", extra="ignore", secrets_dir=secrets_dir())

    host: str = "0.0.0.0"
    # The platform's convention; set 6333 to sit where a real Qdrant would.
    port: int = 8000
    node_id: str = "vectordb"
    # Every other node, comma-separated; each gets every write (a full mesh). Empty: a single
    # node, no replication.
    peers: str = ""
    # Replaced by `peers`; still read only to refuse a stale setting instead of ignoring it.
    peer_url: str | None = None
    # Holds the operation log (and the node's identity), replayed at start. None: memory only
    # (a restart is a new, empty node that the peer refills).
    data_dir: Path | None = None
    fsync: bool = False
    # Compact the operation log once it holds more entries than this: snapshot the state (in
    # data_dir), keep only the entries a peer still needs (at most half this many for a peer
    # that lags or was never reached; beyond that it gets the snapshot). 0: never compact.
    compact_after: int = 10_000
    # Default write consistency of collections that do not set write_consistency_factor.
    write_consistency: int = 1
    consistency_timeout_s: float = 5.0
    heartbeat_s: float = 0.5
    retry_max_s: float = 2.0
    # Like Qdrant's service.api_key: required in `api-key` (or Authorization: Bearer) when set.
    api_key: SecretStr | None = None
    max_body_bytes: int = 64 << 20
    log_level: str = "info"

    @model_validator(mode="after")
    def _no_peer_url(self) -> Settings:
        if self.peer_url:
            raise ValueError("HALAB_VECTORDB_PEER_URL was replaced by HALAB_VECTORDB_PEERS (comma-separated URLs)")
        return self

    @property
    def peer_urls(self) -> list[str]:
        urls: list[str] = []
        for u in self.peers.split(","):
            u = u.strip().rstrip("/")
            if u and u not in urls:
                urls.append(u)
        return urls
