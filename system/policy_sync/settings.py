"""policy_sync settings: the only module here that reads environment variables.

Variables carry the prefix HALAB_POLICY_SYNC_, e.g. HALAB_POLICY_SYNC_OPA_URL=http://127.0.0.1:8181.
"""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from system.common.settings import split_endpoints


class PolicySyncSettings(BaseSettings):
    """Settings of `python -m system.policy_sync`.

    >>> PolicySyncSettings().policy_prefix
    '/policies/'
    >>> PolicySyncSettings(etcd_endpoint="etcd2:2379,etcd1:2379").etcd_endpoints
    ['etcd2:2379', 'etcd1:2379']
    """

    model_config = SettingsConfigDict(env_prefix="HALAB_POLICY_SYNC_")

    host: str = "0.0.0.0"
    port: int = 8000
    log_level: str = "info"

    # Every etcd member, comma-separated, the local one first (source.py: FailoverSources).
    etcd_endpoint: str = "etcd:2379"
    # ca.pem, cert.pem and key.pem for mutual TLS to etcd (its user is the certificate's CN); empty: plaintext.
    etcd_tls_dir: str = ""
    # Each etcd call, and the heartbeat that notices a silent (paused, partitioned) etcd.
    etcd_timeout_s: float = 2.0
    heartbeat_s: float = 1.0
    policy_prefix: str = "/policies/"

    # How policies reach OPA: "rest" PUTs each one (OPA compiles every module per PUT);
    # "bundle" serves them all as one bundle that OPA long-polls (one compile per batch) and
    # writes the JSON documents (keys data/<id>) through OPA's Data API (no compile).
    mode: Literal["rest", "bundle"] = "rest"

    opa_url: str = "http://opa:8181"
    opa_timeout_s: float = 5.0
    # How often OPA's policies are compared with what was loaded (an OPA restart loses them).
    verify_interval_s: float = 5.0

    # A full resync from a fresh snapshot every so often, besides the one after each
    # (re)connect; 0 turns it off. (harness.spec.PolicySync.resync_s models the same.)
    resync_interval_s: float = 60.0

    backoff_min_s: float = 0.2
    backoff_max_s: float = 3.0

    @property
    def etcd_endpoints(self) -> list[str]:
        return split_endpoints(self.etcd_endpoint)
