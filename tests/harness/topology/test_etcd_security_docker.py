"""etcd in the lab is mutual TLS with a user per service (issue 28, stage 1), against the real
members of a running `seed`: each service's identity is refused outside its own rights, and a
client without the lab CA's certificate is refused before it can ask anything.

Identities are certificates issued by the run's own CA (its key is in the run's private
directory), with the common name each service's certificate carries."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import grpc
import httpx
import pytest

from harness.pki import LabCa, write_private
from harness.topology import etcd_tls
from system.common.etcd import EtcdTls, connect, etcd3

pytestmark = [pytest.mark.docker, pytest.mark.slow]
TIMEOUT_S = 5.0


def _identity(ca: LabCa, cn: str, directory: Path, member: str) -> EtcdTls:
    issued = etcd_tls.client_cert(ca, cn)
    d = directory / cn
    d.mkdir()
    for name, data in (("ca.pem", ca.cert_pem), ("cert.pem", issued.cert_pem), ("key.pem", issued.key_pem)):
        write_private(d, name, data)
    return EtcdTls(str(d / "ca.pem"), str(d / "cert.pem"), str(d / "key.pem"), server_name=member)


@pytest.fixture
def as_user(seed_lab):
    """cn -> an etcd3 client to etcd1 whose certificate says `cn`, issued by the run's CA (or,
    for "stranger", by another CA)."""
    ca = LabCa.load(Path(seed_lab.state.secrets_dir))
    member = seed_lab.state.components["etcd1"]
    clients = []
    with tempfile.TemporaryDirectory() as tmp:
        def client(cn: str, issuer: LabCa | None = None):
            tls = _identity(issuer or ca, cn, Path(tmp), "etcd1")
            if cn in etcd_tls.PASSWORD_USERS:  # its certificate has no CN: it logs in with its password
                c = etcd3.client(member["address"], member["ports"]["client"], ca_cert=tls.ca, cert_key=tls.key,
                                 cert_cert=tls.cert, timeout=TIMEOUT_S, user=cn,
                                 password=seed_lab.state.secret(f"etcd_password_{cn}"),
                                 grpc_options=[("grpc.ssl_target_name_override", "etcd1")])
            else:
                c = connect(f"{member['address']}:{member['ports']['client']}", TIMEOUT_S, tls)
            clients.append(c)
            return c

        yield client
        for c in clients:
            c.close()


def _code(call) -> grpc.StatusCode | None:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()
    return None


def _put(client, key: str):
    # metadata: the token of a client that logged in with a password (None for a certificate's user)
    return lambda: client.kvstub.Put(etcd3.etcdrpc.PutRequest(key=key.encode(), value=b"x"), TIMEOUT_S,
                                     metadata=client.metadata)


def _get(client, key: str):
    return lambda: client.kvstub.Range(etcd_tls.range_request(key), TIMEOUT_S, metadata=client.metadata)


def test_each_service_is_refused_outside_its_own_rights(as_user):
    cms, sync, gateway = as_user("cms"), as_user("policy_sync"), as_user("gateway")
    # within their rights
    assert _code(_put(cms, "/policies/security-probe")) is None
    assert _code(_get(sync, "/policies/security-probe")) is None
    assert _code(_get(gateway, "/apisix/routes/")) is None
    # outside them
    denied = grpc.StatusCode.PERMISSION_DENIED
    assert _code(_put(sync, "/policies/security-probe")) == denied  # policy_sync only reads policies
    assert _code(_put(cms, "/apisix/routes/evil")) == denied  # the CMS cannot route traffic
    assert _code(_get(cms, "/apisix/consumers/")) == denied  # ... nor read the consumers' keys
    assert _code(_get(gateway, "/policies/security-probe")) == denied
    assert _code(_put(gateway, "/policies/evil")) == denied
    root = as_user("root")  # the harness's
    assert _code(_put(root, "/policies/security-probe")) is None
    assert _code(lambda: root.kvstub.DeleteRange(
        etcd3.etcdrpc.DeleteRangeRequest(key=b"/policies/security-probe"), TIMEOUT_S)) is None


def test_a_certificate_of_the_lab_ca_for_no_etcd_user_is_refused(as_user):
    assert _code(_get(as_user("mallory"), "/policies/")) is not None


def test_the_gateways_certificate_without_its_password_is_no_one(seed_lab):
    """The gateway's certificate has no CN (etcd's HTTP gateway refuses one that has): alone,
    it passes TLS and is refused the gateway's rights."""
    member = seed_lab.state.components["etcd1"]
    with tempfile.TemporaryDirectory() as tmp:
        tls = _identity(LabCa.load(Path(seed_lab.state.secrets_dir)), "gateway", Path(tmp), "etcd1")
        c = connect(f"{member['address']}:{member['ports']['client']}", TIMEOUT_S, tls)
        try:
            assert _code(_get(c, "/apisix/routes/")) not in (None, grpc.StatusCode.UNAVAILABLE)
        finally:
            c.close()


def test_a_certificate_from_another_ca_is_refused(as_user):
    stranger = as_user("cms", issuer=LabCa.create("another"))
    assert _code(_get(stranger, "/policies/")) == grpc.StatusCode.UNAVAILABLE  # the handshake fails


def test_plaintext_and_no_certificate_are_refused(seed_lab):
    c = seed_lab.state.components["etcd1"]
    address, port = c["address"], c["ports"]["client"]
    plain = connect(f"{address}:{port}", TIMEOUT_S)
    try:
        assert _code(_get(plain, "/policies/")) == grpc.StatusCode.UNAVAILABLE
    finally:
        plain.close()
    trusting = ssl.create_default_context(cafile=str(Path(seed_lab.state.secrets_dir) / "ca.pem"))
    with httpx.Client(verify=trusting, trust_env=False, timeout=TIMEOUT_S) as http, pytest.raises(httpx.HTTPError):
        # TLS with the lab CA, but no client certificate
        http.post(f"https://{address}:{port}/v3/kv/range", json={"key": "Lw=="}, extensions={"sni_hostname": "etcd1"})
    # the peer port wants a member's certificate too
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{address}:{c['ports']['peer']}/members", timeout=TIMEOUT_S, trust_env=False)


def test_the_gateway_logs_in_with_its_password_over_the_http_gateway(seed_lab):
    """The gateway's own path (etcd's HTTP gateway needs a token): a wrong password is refused,
    and the gateway's watch is live (it answered the seed's queries through the VIP)."""
    c = seed_lab.state.components["etcd1"]
    url = f"https://{c['address']}:{c['ports']['client']}/v3/auth/authenticate"
    with tempfile.TemporaryDirectory() as tmp:
        tls = _identity(LabCa.load(Path(seed_lab.state.secrets_dir)), "gateway", Path(tmp), "etcd1")
        ctx = ssl.create_default_context(cafile=tls.ca)
        ctx.load_cert_chain(tls.cert, tls.key)
        with httpx.Client(verify=ctx, trust_env=False, timeout=TIMEOUT_S) as http:
            r = http.post(url, json={"name": "gateway", "password": "not-the-password"},
                          extensions={"sni_hostname": "etcd1"})
            assert r.status_code in (400, 401) and "authentication failed" in r.text, r.text
            # and the gateway's watch is live: routes written after up reach it (test_seed's admin
            # route test); here, the token a right password gets reads /apisix and not /policies
    assert seed_lab.state.vip_url
