"""ca-rotate on a running seed lab (chaos/faults/rotation.py): afterwards every internal TLS
listener serves a certificate from the new CA, the old CA is trusted nowhere (a client
certificate it signed is refused by every listener that asks for one), the outside's
certificates (the VIP's, Atlas's, the LLM's) are as they were, and the platform answers a
query and takes a policy update. The catalogue's ca-rotation entry measures the same rotation
under load; this test holds what the rotation changed.

The lab is closed after the test: no later test expects a rotated lab.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from chaos.nemesis import Nemesis, wait_healthy
from harness.kinds import KINDS
from harness.pki import CA_CERT, LabCa
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


def _asking(lab) -> list[tuple[str, str]]:
    """Every listener that asks its clients for a certificate."""
    s = lab.state
    return [(c.name, role) for c in s.all_components() for role in KINDS[c.kind].tls
            if KINDS[c.kind].mutual or c.kind == "etcd"]


def _accepts(lab, client_pem: Path, name: str, role: str) -> bool:
    ctx = ssl.create_default_context(cafile=lab.state.ca_file)
    ctx.load_cert_chain(client_pem)
    url = lab.state.url(name, role).replace("http://", "https://")
    with httpx.Client(verify=ctx, trust_env=False, timeout=10) as http:
        try:
            http.get(url + "/healthz", extensions={"sni_hostname": lab.state.components[name]["container"]})
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
            return False
    return True


def test_a_rotated_ca_signs_every_internal_certificate_and_the_old_one_is_trusted_nowhere(rotated_lab, tmp_path):
    lab = rotated_lab
    secrets = Path(lab.state.secrets_dir)
    old = LabCa.load(secrets)
    old_client = old.save_client(tmp_path)  # what a client the old CA signed would present
    before = _issuers(lab)
    assert _accepts(lab, old_client, "gateway1", "http")
    with Nemesis(lab) as n:
        f = n.start("ca-rotate", "")
        n.stop(f)
    wait_healthy(lab)

    after = _issuers(lab)
    outside = {k: v for k, v in after.items() if KINDS[lab.state.component(k[0]).kind].outside_ca}
    inside = {k: v for k, v in after.items() if k not in outside}
    assert {k[0] for k in outside} == {"lb1", "lb2", "mongo", "llm"}
    assert outside == {k: before[k] for k in outside}, "the outside's certificates changed"
    assert len(set(inside.values())) == 1 and not set(inside.values()) & set(before.values()), inside
    assert LabCa.load(secrets).fingerprint != old.fingerprint
    assert old.cert_pem not in (secrets / CA_CERT).read_bytes(), "the run's ca.pem still trusts the old CA"
    refused_old = [x for x in _asking(lab) if not _accepts(lab, old_client, *x)]
    assert refused_old == _asking(lab), "listeners that still take a client certificate from the old CA"
    assert _accepts(lab, Path(lab.state.client_cert), "gateway1", "http")  # the harness's, reissued

    with trust.vip(lab.state, timeout=30) as vip:
        r = vip.post("/rag/query", json={"question": "what is the travel policy?"}, headers={"apikey": lab.consumers["alice"]})
        assert r.status_code == 200, r.text
        # A write through the CMS to etcd, watched by both policy_syncs into both OPAs: every hop under the new CA.
        r = vip.put(f"/cms/policies/{DEFAULT_POLICY_ID}", headers={"apikey": lab.consumers["admin"]},
                    json={"rego": DEFAULT_AUTHZ_REGO, "description": "after the rotation"})
        assert r.status_code in (200, 201, 202), r.text
    print(f"rotated: {len(inside)} listeners now from {next(iter(inside.values()))!r}; "
          f"{len(refused_old)} refuse the old CA's client certificate; kept {sorted(outside)}")
