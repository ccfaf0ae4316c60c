"""harness.pki: the run's CA, its leaves, and real TLS handshakes on 127.0.0.1 that trust it."""

from __future__ import annotations

import datetime
import hashlib
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from harness.pki import CA_KEY, Issued, LabCa, write_private


@pytest.fixture(scope="module")
def ca() -> LabCa:
    return LabCa.create("run1")


@pytest.fixture(scope="module")
def other_ca() -> LabCa:
    return LabCa.create("run2")


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _files(tmp_path: Path, name: str, issued: Issued) -> tuple[str, str]:
    (tmp_path / f"{name}.pem").write_bytes(issued.cert_pem)
    write_private(tmp_path, f"{name}-key.pem", issued.key_pem)
    return str(tmp_path / f"{name}.pem"), str(tmp_path / f"{name}-key.pem")


def _server_ctx(tmp_path: Path, server: Issued, *, trust: LabCa | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*_files(tmp_path, "server", server))
    if trust is not None:  # mutual TLS: the server asks for, and checks, the client's certificate
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=trust.cert_pem.decode())
    return ctx


def _client_ctx(tmp_path: Path, trust: LabCa, cert: Issued | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=trust.cert_pem.decode())  # verifies the chain and the hostname
    if cert is not None:
        ctx.load_cert_chain(*_files(tmp_path, "client", cert))
    return ctx


def _exchange(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str) -> tuple[object, object]:
    """One connection on 127.0.0.1: the server answers with its peer's CN. Returns (server's, client's) outcome.

    Each outcome is what that side got, or the exception it raised: with TLS 1.3 a client learns
    that the server refused its certificate only at its first read, so the read is part of it.
    """
    outcome: dict[str, object] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(5)
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    peer = tls.getpeercert() or {}
                    cn = next((v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"), "")
                    tls.recv(16)
                    tls.sendall(f"cn={cn}".encode())
                    outcome["server"] = cn
            except (OSError, ssl.SSLError) as e:
                outcome["server"] = e

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with socket.create_connection(listener.getsockname(), timeout=5) as raw:
                with client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
                    tls.sendall(b"hello")
                    outcome["client"] = tls.recv(64)
        except (OSError, ssl.SSLError) as e:
            outcome["client"] = e
        thread.join(5)
        assert not thread.is_alive()
    return outcome["server"], outcome["client"]


def test_the_ca_is_a_ca_for_leaves_only(ca: LabCa) -> None:
    cert = _cert(ca.cert_pem)
    assert cert.subject.rfc4514_string() == "CN=halab lab CA run1"
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    cert.verify_directly_issued_by(cert)  # self-signed


def test_a_leaf_verifies_against_its_ca_and_not_another(ca: LabCa, other_ca: LabCa) -> None:
    leaf = _cert(ca.issue("etcd1", ["etcd1", "etcd1.dc1"], ["127.0.0.1"]).cert_pem)
    leaf.verify_directly_issued_by(_cert(ca.cert_pem))
    with pytest.raises(Exception):  # noqa: B017 -- InvalidSignature or ValueError (issuer mismatch), both mean "not ours"
        leaf.verify_directly_issued_by(_cert(other_ca.cert_pem))

    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["etcd1", "etcd1.dc1"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = _cert(ca.cert_pem).extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest


def test_leaves_are_backdated_for_skew_have_random_serials_and_never_outlive_the_ca(ca: LabCa) -> None:
    now = datetime.datetime.now(datetime.UTC)
    a, b = (_cert(ca.issue("x", ["x"]).cert_pem) for _ in range(2))
    assert a.serial_number != b.serial_number
    assert now - datetime.timedelta(minutes=6) < a.not_valid_before_utc < now - datetime.timedelta(minutes=4)
    long = _cert(ca.issue("x", ["x"], days=3650).cert_pem)
    assert long.not_valid_after_utc == _cert(ca.cert_pem).not_valid_after_utc


def test_a_single_string_of_names_is_refused(ca: LabCa) -> None:
    with pytest.raises(TypeError):
        ca.issue("etcd1", "etcd1")


def test_a_client_trusting_the_ca_accepts_a_name_in_the_sans(tmp_path: Path, ca: LabCa) -> None:
    server = ca.issue("gateway1", ["gateway1", "gateway1.dc1.wan"], ["127.0.0.1"])
    for name in ("gateway1.dc1.wan", "127.0.0.1"):
        _, reply = _exchange(_server_ctx(tmp_path, server), _client_ctx(tmp_path, ca), name)
        assert reply == b"cn=", (name, reply)


def test_a_client_refuses_a_name_not_in_the_sans(tmp_path: Path, ca: LabCa) -> None:
    server = ca.issue("gateway1", ["gateway1"])
    _, reply = _exchange(_server_ctx(tmp_path, server), _client_ctx(tmp_path, ca), "gateway2")
    assert isinstance(reply, ssl.SSLCertVerificationError), reply
    assert "gateway2" in str(reply)


def test_a_client_trusting_another_ca_refuses_the_server(tmp_path: Path, ca: LabCa, other_ca: LabCa) -> None:
    server = ca.issue("gateway1", ["gateway1"])
    _, reply = _exchange(_server_ctx(tmp_path, server), _client_ctx(tmp_path, other_ca), "gateway1")
    assert isinstance(reply, ssl.SSLCertVerificationError), reply


def test_mutual_tls_refuses_a_client_without_a_certificate(tmp_path: Path, ca: LabCa) -> None:
    server = ca.issue("etcd1", ["etcd1"])
    seen, reply = _exchange(_server_ctx(tmp_path, server, trust=ca), _client_ctx(tmp_path, ca), "etcd1")
    assert isinstance(seen, ssl.SSLError), seen
    assert not (isinstance(reply, bytes) and reply.startswith(b"cn="))


def test_mutual_tls_refuses_a_client_certificate_from_another_ca(tmp_path: Path, ca: LabCa, other_ca: LabCa) -> None:
    server = ca.issue("etcd1", ["etcd1"])
    client = other_ca.issue("gateway1")
    seen, reply = _exchange(_server_ctx(tmp_path, server, trust=ca), _client_ctx(tmp_path, ca, client), "etcd1")
    assert isinstance(seen, ssl.SSLError), seen
    assert not (isinstance(reply, bytes) and reply.startswith(b"cn="))


def test_mutual_tls_accepts_a_client_of_the_ca_and_sees_its_cn(tmp_path: Path, ca: LabCa) -> None:
    server = ca.issue("etcd1", ["etcd1"])
    client = ca.issue("policy_sync1")  # a client's certificate needs no names
    seen, reply = _exchange(_server_ctx(tmp_path, server, trust=ca), _client_ctx(tmp_path, ca, client), "etcd1")
    assert seen == "policy_sync1"
    assert reply == b"cn=policy_sync1"


def test_a_client_certificate_without_cn_still_passes_mutual_tls(tmp_path: Path, ca: LabCa) -> None:
    """etcd's HTTP gateway refuses a client certificate with a CN: the gateway's has its name as OU."""
    client = ca.issue("gateway", without_cn=True)
    subject = _cert(client.cert_pem).subject
    assert subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME) == []
    assert subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "gateway"
    server = ca.issue("etcd1", ["etcd1"])
    seen, _reply = _exchange(_server_ctx(tmp_path, server, trust=ca), _client_ctx(tmp_path, ca, client), "etcd1")
    assert not isinstance(seen, Exception), seen


def test_a_saved_ca_keeps_its_key_private_and_loads_to_sign_for_the_original(tmp_path: Path, ca: LabCa) -> None:
    ca.save(tmp_path)
    assert stat.S_IMODE((tmp_path / CA_KEY).stat().st_mode) == 0o600
    assert (tmp_path / "ca.pem").read_bytes() == ca.cert_pem
    loaded = LabCa.load(tmp_path)
    assert loaded.fingerprint == ca.fingerprint
    _cert(loaded.issue("cms1", ["cms1"]).cert_pem).verify_directly_issued_by(_cert(ca.cert_pem))


def test_load_refuses_a_key_that_is_not_the_cas(tmp_path: Path, ca: LabCa, other_ca: LabCa) -> None:
    other_ca.save(tmp_path)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    with pytest.raises(ValueError, match="does not belong"):
        LabCa.load(tmp_path)


def test_write_private_is_0600_even_over_a_looser_file(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(b"old")
    (tmp_path / "k").chmod(0o644)
    path = write_private(tmp_path, "k", b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_no_key_shows_in_repr_or_str(tmp_path: Path, ca: LabCa) -> None:
    issued = ca.issue("etcd1", ["etcd1"])
    ca.save(tmp_path)
    ca_key_pem = (tmp_path / CA_KEY).read_bytes()
    for key_pem, obj in ((ca_key_pem, ca), (issued.key_pem, issued)):
        body = [line for line in key_pem.decode().splitlines() if line and not line.startswith("-----")]
        for text in (repr(obj), str(obj), f"{obj}", f"{obj!r}"):
            assert "PRIVATE" not in text
            assert not any(line in text for line in body)
            assert not any(line[:12] in text for line in body)
    assert "etcd1" in repr(issued) and ca.fingerprint[:16] in repr(ca)


def test_the_fingerprint_is_the_sha256_of_the_der(ca: LabCa) -> None:
    der = ssl.PEM_cert_to_DER_cert(ca.cert_pem.decode())
    assert ca.fingerprint == hashlib.sha256(der).hexdigest()


def test_a_reissued_certificate_keeps_the_names_and_may_be_expired_or_foreign() -> None:
    ca = LabCa.create("unit")
    old = ca.issue("etcd2", ["etcd2", "etcd2.dc2"], ips=["127.0.0.1"])
    old_cert = x509.load_pem_x509_certificate(old.cert_pem)

    def names(issued):
        cert = x509.load_pem_x509_certificate(issued.cert_pem)
        return cert.subject, list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)

    renewed, expired = ca.reissue(old.cert_pem), ca.reissue(old.cert_pem, expired=True)
    foreign = LabCa.create("stranger").reissue(old.cert_pem)
    for new in (renewed, expired, foreign):
        assert names(new) == names(old) and new.key_pem != old.key_pem
    now = datetime.datetime.now(datetime.UTC)
    assert x509.load_pem_x509_certificate(expired.cert_pem).not_valid_after_utc < now < old_cert.not_valid_after_utc
    assert x509.load_pem_x509_certificate(foreign.cert_pem).issuer != old_cert.issuer
    client = LabCa.create("unit").issue("halab-harness")  # no names at all: reissued without any
    assert ca.reissue(client.cert_pem).cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
