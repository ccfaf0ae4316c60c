"""The one place that imports etcd3.

etcd3 0.12 ships protobuf code generated for protobuf 3; protobuf 4 and newer load it only
in pure-Python mode, which must be chosen before protobuf is first imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")

import etcd3  # noqa: E402
import etcd3.exceptions  # noqa: E402,F401

__all__ = ["etcd3", "connect"]


def connect(endpoint: str, timeout: float = 5.0) -> "etcd3.Etcd3Client":
    """`endpoint` is host:port or http://host:port, as the services' settings carry it."""
    hostport = endpoint.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    return etcd3.client(host=host or hostport, port=int(port or 2379), timeout=timeout)
