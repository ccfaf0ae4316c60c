"""Gateway settings: the only module of the gateway that reads environment variables."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from system.common.settings import secrets_dir


class GatewaySettings(BaseSettings):
    """`HALAB_GATEWAY_*` variables, e.g. HALAB_GATEWAY_ETCD_ENDPOINT=http://etcd1:2379."""

    model_config = SettingsConfigDict(env_prefix="HALAB_GATEWAY_", extra="ignore", secrets_dir=secrets_dir())

    host: str = "0.0.0.0"
    port: int = 8000
    # Comma-separated etcd endpoints (host:port or http://host:port); tried in order.
    etcd_endpoint: str = "http://127.0.0.1:2379"
    etcd_prefix: str = "/apisix"
    # ca.pem, cert.pem and key.pem for mutual TLS to etcd; empty: plaintext. etcd's HTTP
    # gateway ignores the certificate's name, so the gateway logs in as etcd_user (etcd_http.py).
    etcd_tls_dir: str = ""
    etcd_user: str = ""
    etcd_password: SecretStr = SecretStr("")
    etcd_timeout_s: float = 3.0
    etcd_reconnect_min_s: float = 0.2
    etcd_reconnect_max_s: float = 3.0
    # The watch stream cannot tell a killed etcd from a quiet one: a probe on a second
    # connection every interval; this many failures in a row end the watch (then reconnect).
    etcd_probe_interval_s: float = 1.0
    etcd_probe_timeout_s: float = 1.0
    etcd_probe_failures: int = 2

    # OpenBao / Vault: the secret manager's uri comes from /apisix/secrets/vault/<id>; this is
    # the fallback when that record has no uri. The gateway logs in with AppRole.
    vault_addr: str = "http://127.0.0.1:8200"
    vault_role_id: SecretStr = SecretStr("")
    vault_secret_id: SecretStr = SecretStr("")
    vault_approle_mount: str = "approle"
    vault_timeout_s: float = 2.0
    # A secret is re-read after ttl; when OpenBao fails the cached value is served for up to
    # max_stale more seconds, then requests needing it get 503.
    secret_ttl_s: float = 30.0
    secret_max_stale_s: float = 300.0
    # After a failed read, serve the stale value without asking OpenBao again for this long.
    secret_retry_backoff_s: float = 5.0

    # APISIX's Admin API (admin.py) on its own port; served only when a key is given (a file
    # in the secrets directory, like the AppRole credentials).
    admin_port: int = 9180
    admin_key: SecretStr = SecretStr("")

    # Shared with the services behind: key-auth signs the consumer it sets (system/common/identity.py).
    identity_key: SecretStr = SecretStr("")

    max_body_bytes: int = 8 << 20
    log_level: str = "info"

    @property
    def etcd_endpoints(self) -> list[str]:
        out = []
        for item in self.etcd_endpoint.split(","):
            item = item.strip().rstrip("/")
            if not item:
                continue
            out.append(item if "://" in item else f"{'https' if self.etcd_tls_dir else 'http'}://{item}")
        return out
