"""ca-rotate on a running seed lab (chaos/faults/rotation.py): afterwards every internal TLS
listener serves a certificate from the new CA, the edge, "Atlas" and the LLM keep theirs, and
the platform answers a query and takes a policy update. The catalogue's ca-rotation entry
measures the same rotation under load; this test holds what the rotation changed.

The lab is closed after the test: a rotated lab trusts two CAs, which no later test expects.
"""

from __future__ import annotations

import socket

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from chaos.faults.rotation import KEPT
from chaos.nemesis import Nemesis, wait_healthy
from harness.kinds import KINDS
from harness.topology import trust
from system.gateway.seed import DEFAULT_AUTHZ_REGO
from system.policies import DEFAULT_POLICY_ID

pytestmark = pytest.mark.docker


@pytest.fixture
def rotated_lab(labs):
    lab = labs.get("seed")
    yield lab
    labs.close()


def _issuers(lab) -> dict[tuple[str, str], str]:
    """(component, port role) -> the CN of the issuer of the certificate it serves."""
    ctx = trust.context(lab.state)
    seen = {}
    for c in lab.state.all_components():
        record = lab.state.components[c.name]
        for role in KINDS[c.kind].tls:
            with socket.create_connection((record["address"], record["ports"][role]), timeout=5) as sock, \
                    ctx.wrap_socket(sock, server_hostname=record["container"]) as tls:
                cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
            seen[c.name, role] = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return seen


def test_a_rotated_ca_signs_every_internal_certificate_and_the_platform_still_answers(rotated_lab):
    lab = rotated_lab
    before = _issuers(lab)
    assert len(set(before.values())) == 1, before
    with Nemesis(lab) as n:
        f = n.start("ca-rotate", "")
        n.stop(f)
    wait_healthy(lab)
    after = _issuers(lab)
    (old,) = set(before.values())
    kept = {k: v for k, v in after.items() if lab.state.component(k[0]).kind in KEPT}
    rotated = {k: v for k, v in after.items() if k not in kept}
    assert set(kept.values()) == {old}, kept
    assert len(set(rotated.values())) == 1 and old not in rotated.values(), rotated
    assert {k[0] for k in rotated} >= {"etcd1", "etcd2", "vault1", "vault2", "gateway1", "opa2", "vectordb2"}
    with trust.vip(lab.state, timeout=30) as vip:
        r = vip.post("/rag/query", json={"question": "what is the travel policy?"}, headers={"apikey": lab.consumers["alice"]})
        assert r.status_code == 200, r.text
        # A write through the CMS to etcd, watched by both policy_syncs into both OPAs: every hop under the new CA.
        r = vip.put(f"/cms/policies/{DEFAULT_POLICY_ID}", headers={"apikey": lab.consumers["admin"]},
                    json={"rego": DEFAULT_AUTHZ_REGO, "description": "after the rotation"})
        assert r.status_code in (200, 201, 202), r.text
    print(f"rotated: {len(rotated)} listeners now from {next(iter(rotated.values()))!r}; kept {sorted(kept)}")
