"""OpenBao (Vault's API) as a container: dev mode by default, or a Raft node.

    >>> with BaoContainer(run_id).on_network(net, "vault") as bao:        # doctest: +SKIP
    ...     hvac.Client(url=bao.api_url, token=bao.root_token).secrets.kv.v2.read_secret("llm")

Dev mode (`with_dev_mode(root_token=...)`): in-memory, unsealed, KV v2 at `secret/`;
ready when `/v1/sys/health` answers 200. Raft mode (`with_raft(node_id)`): a real server
with integrated storage at /openbao/data; it starts uninitialised and sealed, so it counts
as ready as soon as `/v1/sys/health` answers at all (501/503) — init and unseal are yours.
"""

from __future__ import annotations

from harness.containers.base import TLS_CERT, TLS_CLIENTS_CA, TLS_KEY, HalabContainer, http_ok
from harness.kinds import KINDS

PORT = KINDS["vault"].ports["api"]
CLUSTER_PORT = KINDS["vault"].ports["cluster"]
# every status /v1/sys/health may give: active, standby, DR, perf standby, uninit, sealed
ANY_HEALTH = (200, 429, 472, 473, 501, 503)


class BaoContainer(HalabContainer):
    component = "vault"
    port = PORT

    def __init__(self, run_id: str, image: str | None = None, **kwargs) -> None:
        super().__init__(run_id, image, **kwargs)
        self.root_token = "halab-root"
        self._raft_node: str | None = None
        self._api_host: str | None = None
        self._extra_config = ""

    def with_dev_mode(self, root_token: str = "halab-root") -> BaoContainer:
        self.root_token = root_token
        self._raft_node = None
        return self

    def with_raft(self, node_id: str, api_host: str | None = None, extra_config: str = "") -> BaoContainer:
        """A Raft-storage server; `api_host` is the name peers reach it by (default: node_id)."""
        self._raft_node = node_id
        self._api_host = api_host or node_id
        self._extra_config = extra_config
        return self

    def config_hcl(self) -> str:
        """With `with_tls`, the API is HTTPS with the lab's certificate (the cluster port, Raft's
        and request forwarding's, is always TLS with OpenBao's own certificates)."""
        host = self._api_host
        scheme = "https" if self.tls else "http"
        tls = (f'  tls_cert_file = "{TLS_CERT}"\n  tls_key_file = "{TLS_KEY}"\n' if self.tls
               else "  tls_disable = true\n")
        if self.tls and self.tls.mutual:  # a client without a certificate from the run's CA is refused
            tls += f'  tls_require_and_verify_client_cert = true\n  tls_client_ca_file = "{TLS_CLIENTS_CA}"\n'
        return (
            f'storage "raft" {{\n  path = "/openbao/data"\n  node_id = "{self._raft_node}"\n}}\n'
            f'listener "tcp" {{\n  address = "0.0.0.0:{PORT}"\n  cluster_address = "0.0.0.0:{CLUSTER_PORT}"\n'
            f'{tls}  telemetry {{\n    unauthenticated_metrics_access = true\n  }}\n}}\n'
            # /v1/sys/metrics?format=prometheus, for a Prometheus without a token
            f'telemetry {{\n  prometheus_retention_time = "60s"\n  disable_hostname = true\n}}\n'
            f'api_addr = "{scheme}://{host}:{PORT}"\ncluster_addr = "{scheme}://{host}:{CLUSTER_PORT}"\n'
            f'disable_mlock = true\nui = false\n{self._extra_config}'
        )

    def _configure(self) -> None:
        if self._raft_node is None:
            self.with_command(
                ["server", "-dev", f"-dev-root-token-id={self.root_token}", f"-dev-listen-address=0.0.0.0:{PORT}"]
            )
        else:
            self.with_copy_into_container(self.config_hcl().encode(), "/openbao/config/bao.hcl")
            self.with_command(["server", "-config=/openbao/config/bao.hcl"])

    @property
    def api_url(self) -> str:
        return self.url()

    @property
    def dev_mode(self) -> bool:
        return self._raft_node is None

    def _probe(self) -> bool:
        return http_ok(self.url("/v1/sys/health"), accept=(200,) if self.dev_mode else ANY_HEALTH, tls=self.tls)
