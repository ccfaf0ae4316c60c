"""OpenBao: one Raft node per site's data node; init, unseal and join are harness/topology/bao.py."""

from __future__ import annotations

from harness.containers import BaoContainer
from harness.containers.bao import CLUSTER_PORT, PORT
from harness.topology.components.context import Context
from harness.topology.plan import Placement


class BaoNode(BaoContainer):
    """BaoContainer in Raft mode on the node's own API and cluster ports, with the spec's Raft timing."""

    def __init__(self, run_id: str, image: str, api_port: int, cluster_port: int, multiplier: int, **kw) -> None:
        super().__init__(run_id, image, **kw)
        self.port = api_port
        self._api_port, self._cluster_port, self._multiplier = api_port, cluster_port, multiplier

    def config_hcl(self) -> str:
        hcl = super().config_hcl()
        hcl = hcl.replace(f':{PORT}"', f':{self._api_port}"').replace(f':{CLUSTER_PORT}"', f':{self._cluster_port}"')
        return hcl.replace(f'node_id = "{self._raft_node}"\n', f'node_id = "{self._raft_node}"\n  performance_multiplier = {self._multiplier}\n', 1)


def container(ctx: Context, p: Placement) -> BaoNode:
    mult = ctx.plan.topology.params.bao.performance_multiplier
    c = BaoNode(ctx.run_id, ctx.image_of("vault"), p.ports["api"], p.ports["cluster"], mult, site=p.site)
    ctx.serve_tls(ctx.place(c, p), p)
    return c.with_raft(p.name, api_host=p.alias)
