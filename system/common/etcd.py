"""The one place that imports etcd3.

etcd3 0.12 ships protobuf code generated for protobuf 3; protobuf 4 and newer load it only
in pure-Python mode, which must be chosen before protobuf is first imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")

import etcd3
import etcd3.exceptions

__all__ = ["etcd3", "connect", "EtcdTls"]

# gRPC shares one subchannel per target across a process's channels, and a subchannel that
# failed while etcd was down waits out an exponential backoff (up to 120 s) before it dials
# again; meanwhile every new client to that target fails at once with the old error. Each
# client gets its own subchannel, and the backoff stays under the services' own retry loops.
_GRPC_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


@dataclass(frozen=True)
class EtcdTls:
    """Mutual TLS to etcd: the lab CA, and this client's certificate and key (files, 0600).

    etcd takes the client certificate's common name as the etcd user (`--client-cert-auth`
    with auth enabled), so a gRPC client needs no password and holds no token that could expire.
    `server_name` overrides the name checked against the server's certificate, for a client
    that dials an address (the harness, from the host) rather than the member's alias."""

    ca: str
    cert: str
    key: str
    server_name: str = ""

    @classmethod
    def in_dir(cls, directory: str | Path | None) -> EtcdTls | None:
        """ca.pem, cert.pem and key.pem in `directory`; None (plaintext) for no directory."""
        if not directory:
            return None
        d = Path(directory)
        return cls(str(d / "ca.pem"), str(d / "cert.pem"), str(d / "key.pem"))


def connect(endpoint: str, timeout: float = 5.0, tls: EtcdTls | None = None) -> etcd3.Etcd3Client:
    """`endpoint` is host:port, http://host:port or https://host:port, as the services'
    settings carry it; `tls` given, the channel is mutual TLS whatever the scheme says."""
    hostport = endpoint.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    options, files = list(_GRPC_OPTIONS), {}
    if tls is not None:
        files = {"ca_cert": tls.ca, "cert_key": tls.key, "cert_cert": tls.cert}
        if tls.server_name:
            options.append(("grpc.ssl_target_name_override", tls.server_name))
    return etcd3.client(host=host or hostport, port=int(port or 2379), timeout=timeout, grpc_options=options, **files)
