"""A labelled Docker network, internal by default (no route off the machine).

    >>> from harness.containers import InternalNetwork, EtcdContainer
    >>> with InternalNetwork(run_id, "dc1") as net:                # doctest: +SKIP
    ...     with EtcdContainer(run_id).on_network(net, "etcd1") as etcd:
    ...         etcd.client_url                                     # http://<address on dc1>:2379

The host can reach every container at its address on an internal network (it holds the
bridge's gateway address), so tests talk to containers directly; nothing is published.
"""

from __future__ import annotations

import uuid

import docker
import docker.errors

from harness.labels import labels


class InternalNetwork:
    """Context manager around one labelled `docker network create [--internal]`.

    `name` is the network's full Docker name; by default `halab-<run_id>-<site>-<random>`,
    so parallel runs never collide. Works wherever testcontainers wants a Network (`.name`).
    """

    def __init__(self, run_id: str, site: str = "net", *, name: str | None = None, internal: bool = True,
                 client: docker.DockerClient | None = None) -> None:
        self.run_id = run_id
        self.site = site
        self.name = name or f"halab-{run_id}-{site}-{uuid.uuid4().hex[:6]}"
        self.internal = internal
        self._client = client
        self._network = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.from_env(timeout=60)
        return self._client

    @property
    def id(self) -> str:
        if self._network is None:
            raise RuntimeError(f"network {self.name} is not created")
        return self._network.id

    def create(self) -> InternalNetwork:
        self._network = self.client.networks.create(
            self.name, driver="bridge", internal=self.internal, labels=labels(self.run_id, site=self.site),
            check_duplicate=True,
        )
        return self

    def remove(self) -> None:
        if self._network is None:
            return
        try:
            self._network.reload()
            for c in self._network.containers:  # leftovers would block the removal
                try:
                    self._network.disconnect(c, force=True)
                except docker.errors.APIError:
                    pass
            self._network.remove()
        except docker.errors.NotFound:
            pass
        self._network = None

    def __enter__(self) -> InternalNetwork:
        return self.create()

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"InternalNetwork({self.name!r}, internal={self.internal})"
