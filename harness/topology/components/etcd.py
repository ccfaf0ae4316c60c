"""etcd: one member per site's data node, one cluster across the sites, alias URLs everywhere.

Each member listens on its own ports (see plan.py: the WAN proxy tells remote servers apart
by port), so the EtcdContainer's command gets its port numbers rewritten here.
"""

from __future__ import annotations

import json
import socket
import urllib.request

import harness.topology.etcd_tls as etcd_tls
from harness.containers import EtcdContainer
from harness.containers.etcd import CLIENT_PORT, PEER_PORT
from harness.topology.components.context import Context
from harness.topology.plan import Placement

_CLIENT_FLAGS = ("--listen-client-urls=", "--advertise-client-urls=")
_PEER_FLAGS = ("--listen-peer-urls=", "--initial-advertise-peer-urls=")


class EtcdMember(EtcdContainer):
    """EtcdContainer on the member's own ports, over mutual TLS (etcd_tls.py) when given its
    files; /health and /metrics stay plaintext on the metrics port, as etcd intends them."""

    def __init__(self, run_id: str, image: str, ports: dict[str, int], **kwargs) -> None:
        super().__init__(run_id, image, **kwargs)
        self.port = ports["client"]
        self._client_port, self._peer_port, self._metrics_port = ports["client"], ports["peer"], ports["metrics"]
        self._tls = False

    def with_tls(self, files: dict[str, bytes]) -> EtcdMember:
        for path, content in files.items():
            self.with_copy_into_container(content, path, mode=0o600)
        self._tls = True
        return self

    def _configure(self) -> None:
        super()._configure()
        out = []
        for arg in self._command:
            if arg.startswith(_CLIENT_FLAGS):
                arg = arg.replace(f":{CLIENT_PORT}", f":{self._client_port}")
            elif arg.startswith(_PEER_FLAGS):
                arg = arg.replace(f":{PEER_PORT}", f":{self._peer_port}")
            if self._tls and arg.startswith(_CLIENT_FLAGS + _PEER_FLAGS):
                arg = arg.replace("http://", "https://")
            out.append(arg)
        out.append(f"--listen-metrics-urls=http://0.0.0.0:{self._metrics_port}")
        if self._tls:
            out += etcd_tls.member_flags()
        self._command = out

    def health(self) -> dict:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://{self.address()}:{self._metrics_port}/health", timeout=2) as resp:
            return json.loads(resp.read())

    def _probe(self) -> bool:
        if not self._health_wait:  # a member waiting for its peers: its client port accepts
            with socket.create_connection((self.address(), self.port), timeout=1):
                return True
        return super()._probe()


def container(ctx: Context, p: Placement) -> EtcdMember:
    raft = ctx.plan.topology.params.etcd
    members = {m.name: m.url("peer") for m in ctx.plan.of_kind("etcd")}
    c = EtcdMember(ctx.run_id, ctx.image_of("etcd"), dict(p.ports), site=p.site)
    ctx.place(c, p)
    c.with_member_name(p.name).with_initial_cluster(members).with_cluster_token(f"halab-{ctx.plan.tag}")
    c.with_tls(etcd_tls.files(ctx.ca, etcd_tls.member_cert(ctx.ca, p)))
    c.with_args(f"--heartbeat-interval={int(raft.heartbeat_ms)}", f"--election-timeout={int(raft.election_ms)}")
    # Alone, a member has no quorum: ready once it answers; the cluster's health is waited for later.
    return c.with_health_wait(False)
