"""etcd (v3.6, FROM scratch) as a container; ready when `/health` says `"health":"true"`.

    >>> from harness.containers import EtcdContainer, InternalNetwork
    >>> with InternalNetwork(run_id) as net:                               # doctest: +SKIP
    ...     with EtcdContainer(run_id).on_network(net, "etcd1") as etcd:
    ...         etcd3.client(host=etcd.host, port=2379).put("/k", "v")

One member by default. For a cluster, give every member the same `with_initial_cluster`
and `with_health_wait(False)` (a member alone has no quorum, so `/health` stays false
until enough peers are up); then wait on the last one, or poll `/health` yourself.
"""

from __future__ import annotations

import json
import socket
import urllib.request

from harness.containers.base import HalabContainer
from harness.kinds import KINDS

CLIENT_PORT = KINDS["etcd"].ports["client"]
PEER_PORT = KINDS["etcd"].ports["peer"]


class EtcdContainer(HalabContainer):
    component = "etcd"
    port = CLIENT_PORT

    def __init__(self, run_id: str, image: str | None = None, **kwargs) -> None:
        super().__init__(run_id, image, **kwargs)
        self._member: str | None = None
        self._initial_cluster: dict[str, str] | None = None
        self._cluster_state = "new"
        self._token = f"halab-{run_id}"
        self._args: list[str] = []
        self._health_wait = True

    def with_member_name(self, name: str) -> EtcdContainer:
        """The member's name, also the hostname its URLs advertise (default: its first alias)."""
        self._member = name
        return self

    def with_initial_cluster(self, members: dict[str, str] | list[str]) -> EtcdContainer:
        """name -> peer URL (or a list of names, each advertised at http://<name>:2380)."""
        if isinstance(members, (list, tuple)):
            members = {m: f"http://{m}:{PEER_PORT}" for m in members}
        self._initial_cluster = dict(members)
        return self

    def with_cluster_state(self, state: str) -> EtcdContainer:
        """'new' (default) or 'existing' (a member added with `member add`)."""
        self._cluster_state = state
        return self

    def with_cluster_token(self, token: str) -> EtcdContainer:
        self._token = token
        return self

    def with_args(self, *args: str) -> EtcdContainer:
        """Extra etcd flags, e.g. `--heartbeat-interval=100`."""
        self._args.extend(args)
        return self

    def with_health_wait(self, wait: bool) -> EtcdContainer:
        """False: ready once the client port accepts connections (a member waiting for its peers).

        etcd holds HTTP requests, `/version` included, until the member has joined a quorum.
        """
        self._health_wait = wait
        return self

    def _configure(self) -> None:
        member = self._member or (self._networks[0][1][0] if self._networks and self._networks[0][1] else "etcd")
        self._member = member
        cluster = self._initial_cluster or {member: f"http://{member}:{PEER_PORT}"}
        advertise = member if (self._networks and any(member in a for _, a in self._networks)) else "0.0.0.0"
        if advertise == "0.0.0.0":
            # No alias to advertise: use the container name, which Docker resolves on user networks.
            advertise = self._name
            cluster = self._initial_cluster or {member: f"http://{advertise}:{PEER_PORT}"}
        self.with_command(
            [
                f"--name={member}",
                "--data-dir=/var/lib/etcd",
                f"--listen-client-urls=http://0.0.0.0:{CLIENT_PORT}",
                f"--advertise-client-urls=http://{advertise}:{CLIENT_PORT}",
                f"--listen-peer-urls=http://0.0.0.0:{PEER_PORT}",
                f"--initial-advertise-peer-urls=http://{advertise}:{PEER_PORT}",
                "--initial-cluster=" + ",".join(f"{n}={u}" for n, u in cluster.items()),
                f"--initial-cluster-state={self._cluster_state}",
                f"--initial-cluster-token={self._token}",
                *self._args,
            ]
        )

    @property
    def member_name(self) -> str:
        return self._member or ""

    @property
    def client_url(self) -> str:
        """http://<address>:2379, reachable from the host and from the container's networks."""
        return self.url()

    def health(self) -> dict:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url("/health"), timeout=2) as resp:
            return json.loads(resp.read())

    def _probe(self) -> bool:
        if not self._health_wait:
            with socket.create_connection((self.address(), CLIENT_PORT), timeout=1):
                return True
        return self.health().get("health") == "true"
