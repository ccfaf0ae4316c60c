"""The lab's certificate authority: one per run, made at `halab up` (issue 28, stage 1).

    >>> ca = LabCa.create("doc")
    >>> etcd = ca.issue("etcd1", ["etcd1", "etcd1.dc1"], ips=["127.0.0.1"])
    >>> etcd.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    True
    >>> "PRIVATE" in repr(etcd) or "PRIVATE" in repr(ca)
    False

Everything is ECDSA P-256: small keys and fast handshakes (the WAN link costs 10 ms a round
trip), and every component the lab runs (etcd, HAProxy, APISIX, OpenBao, Python's ssl) takes it.
No Docker here: realising the topology decides which names each component's certificate needs.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
# The harness's own client certificate and key in one 0600 file (what Python's ssl, requests
# and pymongo all load): the host's clients present it to components that ask for one.
CLIENT = "client.pem"
CLIENT_NAME = "halab-harness"

# Containers' clocks are the host's, but a user's client or a VM may lag a little behind the
# moment `halab up` signed: a certificate "not yet valid" would be a confusing first failure.
_SKEW = datetime.timedelta(minutes=5)


def write_private(directory: Path, name: str, data: bytes) -> Path:
    """Write `data` to directory/name readable by its owner only; return the path.

    The mode goes to os.open, so the file never exists with looser permissions, and fchmod
    tightens a file an earlier run left behind (O_TRUNC keeps an existing file's mode).
    """
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(data)
    return path


@dataclass(frozen=True)
class Issued:
    """A leaf certificate and its key, ready for a component's 0600 files."""

    cert_pem: bytes
    key_pem: bytes  # PKCS8, unencrypted: the file's mode protects it, as with the lab's other secrets

    def __repr__(self) -> str:
        # Dataclasses print every field; a key must not reach a log through a repr.
        cert = x509.load_pem_x509_certificate(self.cert_pem)
        return f"Issued(cn={_common_name(cert)!r}, serial={cert.serial_number:x}, key=<hidden>)"

    __str__ = __repr__


class LabCa:
    """A CA per run; certificates for the lab's components and clients."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        if cert.public_key().public_numbers() != key.public_key().public_numbers():
            raise ValueError("the CA key does not belong to the CA certificate")
        self._cert = cert
        self._key = key

    @classmethod
    def create(cls, run_id: str, days: int = 30) -> LabCa:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"halab lab CA {run_id}")])
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _SKEW)
            .not_valid_after(now + datetime.timedelta(days=_positive(days)))
            # pathlen 0: the CA signs leaves only, so a leaf's key can never mint certificates.
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @property
    def cert_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the CA certificate's DER, in hex: public, so safe to print and log."""
        return hashlib.sha256(self._cert.public_bytes(serialization.Encoding.DER)).hexdigest()

    def issue(self, common_name: str, dns_names: Sequence[str] = (), ips: Sequence[str] = (), *, days: int = 30,
              without_cn: bool = False) -> Issued:
        """A leaf for `common_name`; clients check only `dns_names` and `ips`, never the CN.

        Every leaf serves and dials: etcd's gRPC gateway dials its own server with the server
        certificate, and etcd members, OpenBao nodes and vector nodes are each other's clients.
        `without_cn`: the name goes in the subject as OU, and there is no CN. etcd's HTTP gateway
        refuses a client certificate with a CN (it could not pass it on as the etcd user), so a
        client of that gateway logs in with a password over a certificate without one.
        """
        # A bare string is a Sequence of one-letter names: refuse it rather than certify "e", "t", ...
        if isinstance(dns_names, str) or isinstance(ips, str):
            raise TypeError("dns_names and ips are sequences of names, not a single string")
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
        now = _now()
        return self._leaf(_subject(common_name, without_cn), names, now - _SKEW, now + datetime.timedelta(days=_positive(days)))

    def reissue(self, cert_pem: bytes, *, expired: bool = False) -> Issued:
        """A new key and a certificate from this CA with the subject and names of `cert_pem`'s:
        a renewal, or with `expired`, one whose validity ended yesterday (a renewal missed)."""
        old = x509.load_pem_x509_certificate(cert_pem)
        try:
            names = list(old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            names = []
        now = _now()
        if expired:
            return self._leaf(old.subject, names, now - datetime.timedelta(days=2), now - datetime.timedelta(days=1))
        return self._leaf(old.subject, names, now - _SKEW, now + datetime.timedelta(days=30))

    def _leaf(self, subject: x509.Name, names: list[x509.GeneralName], not_before: datetime.datetime,
              not_after: datetime.datetime) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            # A leaf outliving its CA would only fail later and more confusingly.
            .not_valid_after(min(not_after, self._cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                    # ECDHE signs with the key; keyAgreement covers static ECDH, which some stacks still check for.
                    key_agreement=True, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if names:  # a client's certificate may have none, and an empty SAN extension is invalid
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return Issued(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        )

    def save_client(self, directory: Path, name: str = CLIENT_NAME) -> Path:
        """A client certificate for `name` (no DNS names: it only dials) as directory/client.pem."""
        issued = self.issue(name)
        return write_private(directory, CLIENT, issued.cert_pem + issued.key_pem)

    def save(self, directory: Path) -> None:
        """ca.pem (public: what a user's client trusts) and ca-key.pem (0600) in an existing directory."""
        (directory / CA_CERT).write_bytes(self.cert_pem)
        key_pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        write_private(directory, CA_KEY, key_pem)

    @classmethod
    def load(cls, directory: Path) -> LabCa:
        cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{directory / CA_KEY} is not an EC key")
        return cls(cert, key)

    def __repr__(self) -> str:
        return f"LabCa(cn={_common_name(self._cert)!r}, fingerprint={self.fingerprint[:16]}...)"

    __str__ = __repr__


def _subject(name: str, without_cn: bool) -> x509.Name:
    if without_cn:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "halab"),
                          x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, name)])
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


def _common_name(cert: x509.Certificate) -> str:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else ""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _positive(days: int) -> int:
    if days <= 0:
        raise ValueError(f"days must be positive, not {days}")
    return days
