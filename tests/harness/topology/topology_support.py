"""Helpers the topology tests share (not fixtures)."""

from __future__ import annotations


def raft_peers(lab) -> list[dict]:
    """OpenBao's Raft peers as the first vault node reports them."""
    from harness.topology.bao import BaoCluster

    vault1 = lab.plan.of_kind("vault")[0]
    cluster = BaoCluster.of_lab(lab.state)
    try:
        peers = cluster.raft_peers(lab.url(vault1.name, "api"), lab.bao.harness_token)
    finally:
        cluster.close()
    return peers


def sites_of(lab, peers: list[dict]) -> list[str]:
    return sorted(lab.plan.topology.site_of(p["node_id"]) for p in peers)
