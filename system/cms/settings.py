"""CMS settings: the only module of the CMS that reads environment variables.

Every variable carries the prefix HALAB_CMS_, e.g. HALAB_CMS_ETCD_ENDPOINT=etcd2:2379,etcd1:2379.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from system.common.settings import secrets_dir, split_endpoints


class CmsSettings(BaseSettings):
    """Where the CMS finds its stores and how patient it is with them.

    >>> CmsSettings(etcd_endpoint="127.0.0.1:2379").policy_prefix
    '/policies/'
    >>> CmsSettings(etcd_endpoint="etcd2:2379, etcd1:2379,etcd3:2379").etcd_endpoints
    ['etcd2:2379', 'etcd1:2379', 'etcd3:2379']
    """

    model_config = SettingsConfigDict(env_prefix="HALAB_CMS_", secrets_dir=secrets_dir())

    host: str = "0.0.0.0"
    port: int = 8000
    log_level: str = "info"
    # Shared with the gateway: X-Consumer-Username counts only with its assertion (system/common/identity.py).
    identity_key: SecretStr = SecretStr("")

    # Every etcd member, comma-separated, the local one first: requests fail over in this order.
    etcd_endpoint: str = "etcd:2379"
    # ca.pem, cert.pem and key.pem for mutual TLS to etcd (its user is the certificate's CN); empty: plaintext.
    etcd_tls_dir: str = ""
    etcd_timeout_s: float = 5.0
    # An update that finds its policy pending asks etcd whether it can commit (a linearizable
    # read) within this, to answer 503 (etcd down) rather than 409 (a concurrent writer).
    etcd_probe_timeout_s: float = 1.0
    policy_prefix: str = "/policies/"

    mongo_url: str = "mongodb://mongo:27017/"
    mongo_db: str = "halab"
    mongo_timeout_ms: int = 3000

    # OPA compiles every Rego before anything is written (a scratch policy, deleted after).
    opa_url: str = "http://opa:8181"
    opa_timeout_s: float = 5.0
    # The policy_sync next to the local OPA: `?wait=enforced` polls its /status.
    policy_sync_url: str = "http://policy-sync:8000"
    enforce_timeout_s: float = 10.0

    max_body_bytes: int = 256 * 1024

    # The reconciler runs every interval; a pending update older than the grace is settled
    # (rolled forward if etcd holds its content, else back). Every disagreement between the
    # stores is repaired within about interval + grace once both stores answer.
    reconcile_interval_s: float = 5.0
    pending_grace_s: float = 15.0
    reconciler_enabled: bool = True

    @property
    def etcd_endpoints(self) -> list[str]:
        return split_endpoints(self.etcd_endpoint)
