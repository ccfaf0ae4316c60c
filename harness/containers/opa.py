"""OPA (v1, FROM scratch, telemetry off) as a container; ready when `/health` answers 200.

    >>> with OpaContainer(run_id).on_network(net, "opa") as opa:        # doctest: +SKIP
    ...     httpx.put(f"{opa.api_url}/v1/policies/authz", content=rego)
"""

from __future__ import annotations

from harness.containers.base import TLS_CA, TLS_CERT, TLS_CLIENTS_CA, TLS_KEY, HalabContainer, http_ok
from harness.kinds import KINDS
from system.policy_sync.bundle import NAME as BUNDLE
from system.policy_sync.bundle import RESOURCE

PORT = KINDS["opa"].ports["http"]


class OpaContainer(HalabContainer):
    component = "opa"
    port = PORT

    def __init__(self, run_id: str, image: str | None = None, **kwargs) -> None:
        super().__init__(run_id, image, **kwargs)
        self._args: list[str] = []
        self._log_level = "info"
        self._bundle_url: str | None = None

    def with_log_level(self, level: str) -> OpaContainer:
        self._log_level = level
        return self

    def with_args(self, *args: str) -> OpaContainer:
        """Extra `opa run` flags or files (after `--server`)."""
        self._args.extend(args)
        return self

    def with_bundle_service(self, url: str) -> OpaContainer:
        """Policies from policy_sync's bundle (`url` ends in /opa), long-polled, with status reports back."""
        self._bundle_url = url
        return self

    def _configure(self) -> None:
        # --disable-telemetry always: OPA phones home otherwise (DESIGN.md section 5).
        self.with_command(
            ["run", "--server", "--disable-telemetry", f"--addr=0.0.0.0:{PORT}", f"--log-level={self._log_level}",
             *self._tls_flags(), *self._bundle_flags(), *self._args]
        )

    def _bundle_flags(self) -> list[str]:
        if self._bundle_url is None:
            return []
        svc = "services.policy_sync"
        flags = [f"--set={svc}.url={self._bundle_url}",
                 f"--set=bundles.{BUNDLE}.service=policy_sync", f"--set=bundles.{BUNDLE}.resource={RESOURCE}",
                 # policy_sync holds each poll until there is a newer bundle (or 10 s pass)
                 f"--set=bundles.{BUNDLE}.polling.long_polling_timeout_seconds=10",
                 # after a failed download OPA backs off up to max_delay (120 s by default): a
                 # policy_sync restart must not leave OPA two minutes behind
                 f"--set=bundles.{BUNDLE}.polling.min_delay_seconds=1",
                 f"--set=bundles.{BUNDLE}.polling.max_delay_seconds=2",
                 "--set=status.service=policy_sync"]
        if self.tls is not None and self._bundle_url.startswith("https:"):
            flags += [f"--set={svc}.tls.ca_cert={TLS_CA}",  # the same certificate it serves with, as a client
                      f"--set={svc}.credentials.client_tls.cert={TLS_CERT}",
                      f"--set={svc}.credentials.client_tls.private_key={TLS_KEY}"]
        return flags

    def _tls_flags(self) -> list[str]:
        if self.tls is None:
            return []
        flags = [f"--tls-cert-file={TLS_CERT}", f"--tls-private-key-file={TLS_KEY}"]
        if self.tls.mutual:  # a client without a certificate from the run's CA is refused
            flags += ["--authentication=tls", f"--tls-ca-cert-file={TLS_CLIENTS_CA}"]
        return flags

    @property
    def api_url(self) -> str:
        return self.url()

    def _probe(self) -> bool:
        return http_ok(self.url("/health"), tls=self.tls)
