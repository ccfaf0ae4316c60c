"""Settings of the LLM stub; the only module here that reads the environment.

Every setting has the env prefix `HALAB_LLM_STUB_`, e.g. `HALAB_LLM_STUB_API_KEY`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from system.common.settings import secrets_dir


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HALAB_LLM_STUB_", extra="ignore", secrets_dir=secrets_dir())

    host: str = "0.0.0.0"
    port: int = 8000
    # The one key callers must present (Authorization: Bearer <key>). None: every call is 401
    # until the admin endpoint provisions one.
    api_key: SecretStr | None = None
    # Alternatively a file holding the key; re-read when it changes (a rotation with grace).
    api_key_file: Path | None = None
    # After a rotation the previous key keeps working this long.
    key_grace_s: float = 30.0
    # Protects /admin/*. None: the admin endpoints answer 403.
    admin_token: SecretStr | None = None
    # Seed of the latency model and of the fault draws.
    seed: int = 0
    # Latency model: time to first token (lognormal around the median) and decode speed.
    ttft_ms: float = 200.0
    ttft_sigma: float = 0.25
    tokens_per_s: float = 50.0
    # Zero latency overrides the two figures above (benchmarks of the gateway).
    zero_latency: bool = False
    models: str = "halab-stub-1,gpt-4o-mini"
    max_body_bytes: int = 1 << 20
    log_level: str = "info"

    @property
    def model_ids(self) -> list[str]:
        return [m.strip() for m in self.models.split(",") if m.strip()]
