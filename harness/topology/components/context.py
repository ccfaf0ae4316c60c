"""What every recipe needs: the plan, the site networks, the images, and what earlier phases learnt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.containers.base import HalabContainer
from harness.kinds import KINDS
from harness.labels import labels
from harness.pki import LabCa
from harness.topology.plan import Placement, Plan


@dataclass
class Context:
    plan: Plan
    networks: dict[str, str]  # site -> Docker network name
    image: Callable[[str], str]  # images component name -> tag to run
    # Filled in as phases finish: gateway name -> {"role_id": ..., "secret_id": ...}
    approle: dict[str, dict[str, str]] = field(default_factory=dict)
    llm_key: str = ""
    llm_admin_token: str = ""  # the LLM stub's /admin/* (faults, latency, key rotation)
    gateway_admin_key: str = ""  # the gateways' Admin API (X-API-KEY)
    identity_key: str = ""  # the gateways sign X-Consumer-* with it, the CMS and RAG check (system/common/identity.py)
    vip: tuple[str, int] | None = None  # (address on the edge network, prefix length)
    ready_timeout_s: float = 180.0  # per container; generous: 2 cores, often shared
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)  # component -> env
    # The run's CA (harness/pki.py); etcd's users that log in with a password (etcd_tls.py).
    ca: LabCa = field(default_factory=lambda: LabCa.create("unsaved"))
    # The outside's CA: the VIP's, "Atlas"'s and the LLM's certificates (harness/kinds.py's
    # `outside_ca`), which in production come from a public CA or a provider's, not from the
    # company's. Every component trusts both; a client certificate must come from `ca`.
    outside_ca: LabCa = field(default_factory=lambda: LabCa.create("unsaved outside"))
    etcd_passwords: dict[str, str] = field(default_factory=dict)
    # name -> (certificate, key) of what serve_tls issued: an OpenBao joiner presents its own to
    # the leader. In memory only, for start-up.
    identities: dict[str, tuple[bytes, bytes]] = field(default_factory=dict, repr=False)

    @property
    def run_id(self) -> str:
        return self.plan.run_id

    def image_of(self, kind: str) -> str:
        # The WAN's toxiproxy is lab plumbing, not a kind of the architecture: its own name.
        return self.image(KINDS[kind].image if kind in KINDS else kind)

    @property
    def trust_pem(self) -> bytes:
        """What every component trusts: the run's CA and the outside's."""
        return self.ca.cert_pem + self.outside_ca.cert_pem

    def serve_tls(self, c: HalabContainer, p: Placement) -> HalabContainer:
        """HTTPS with a certificate for every name `p` is dialled by: its aliases (which the
        WAN proxy answers for on the other sites) and its container name (Prometheus's)."""
        kind = KINDS[p.kind]
        issued = (self.outside_ca if kind.outside_ca else self.ca).issue(p.name, [*p.aliases, p.container])
        self.identities[p.name] = (issued.cert_pem, issued.key_pem)
        return c.with_tls(self.trust_pem, issued.cert_pem, issued.key_pem, p.alias,
                          clients_ca_pem=self.ca.cert_pem if kind.mutual else None)

    def place(self, c: HalabContainer, p: Placement) -> HalabContainer:
        """Name it, label it, put it on its site network under its alias."""
        c.with_name(p.container)
        c.with_ready_timeout(self.ready_timeout_s)
        for key, value in labels(self.run_id, name=p.name, node=p.node, site=p.site, kind=p.kind).items():
            c.with_label(key, value)
        c.on_network(self.networks[p.site], *p.aliases)
        return c
