"""TLS on the request path (issue 28, stage 2): how a service serves and whom its clients trust.

In a lab container TLS_DIR holds the run's CA (ca.pem) and the service's own certificate and
key (cert.pem, key.pem, 0600), whose names cover every alias it is dialled by. When they are
there the service serves HTTPS and its clients trust the lab CA, checking names as usual;
outside a container (tests, a developer's shell) the directory is absent and everything is
plain HTTP with the system's CAs, as before. The harness decides which components get one
(harness/kinds.py's `tls` roles), so a service never carries a flag for it.

Mutual TLS the same way: when TLS_DIR also holds clients-ca.pem, the service asks every
client for a certificate signed by that CA and refuses one without (a component inside the
datacenters); without the file it asks none (an external API anyone may call). Its own
clients always present its certificate, which servers that ask check.
"""

from __future__ import annotations

import ssl
from pathlib import Path

TLS_DIR = Path("/etc/halab/tls")
CA, CERT, KEY = "ca.pem", "cert.pem", "key.pem"
CLIENTS_CA = "clients-ca.pem"


def server_files(directory: Path = TLS_DIR) -> tuple[str, str] | None:
    """(certificate, key) to serve with, or None: serve plain HTTP."""
    cert, key = directory / CERT, directory / KEY
    return (str(cert), str(key)) if cert.is_file() and key.is_file() else None


def clients_ca(directory: Path = TLS_DIR) -> str | None:
    """The CA a client's certificate must come from, or None: clients need no certificate."""
    path = directory / CLIENTS_CA
    return str(path) if path.is_file() else None


def server_context(directory: Path = TLS_DIR) -> ssl.SSLContext | None:
    files = server_files(directory)
    if files is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*files)
    if (cafile := clients_ca(directory)) is not None:
        ctx.load_verify_locations(cafile=cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(directory: Path = TLS_DIR) -> ssl.SSLContext:
    """Verifies servers against the lab CA when the container has one, else the system's CAs.

    Never unverified: a name that its certificate does not cover is refused either way. With a
    certificate of its own, the service presents it to servers that ask for one.
    """
    ca = directory / CA
    ctx = ssl.create_default_context(cafile=str(ca)) if ca.is_file() else ssl.create_default_context()
    if (files := server_files(directory)) is not None:
        ctx.load_cert_chain(*files)
    return ctx
