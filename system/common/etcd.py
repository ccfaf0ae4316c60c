"""The one place that imports etcd3.

etcd3 0.12 ships protobuf code generated for protobuf 3; protobuf 4 and newer load it only
in pure-Python mode, which must be chosen before protobuf is first imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")

import etcd3
import etcd3.exceptions

__all__ = ["etcd3", "connect"]

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


def connect(endpoint: str, timeout: float = 5.0) -> etcd3.Etcd3Client:
    """`endpoint` is host:port or http://host:port, as the services' settings carry it."""
    hostport = endpoint.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    return etcd3.client(host=host or hostport, port=int(port or 2379), timeout=timeout,
                        grpc_options=_GRPC_OPTIONS)
