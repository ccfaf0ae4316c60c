"""The `seed+witness` topology: a third site holds a third voter of each cluster."""

from __future__ import annotations

import httpx
import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_etcd_has_three_members_on_three_sites(witness_lab) -> None:
    etcd1 = witness_lab.plan.of_kind("etcd")[0]
    resp = httpx.post(f"{witness_lab.url(etcd1.name, 'client')}/v3/cluster/member/list", json={}, timeout=5,
                      trust_env=False)
    members = [m["name"] for m in resp.json()["members"]]
    assert sorted(witness_lab.plan.topology.site_of(m) for m in members) == ["dc1", "dc2", "witness"]


def test_openbao_has_three_raft_peers(witness_lab) -> None:
    from harness.topology.bao import BaoCluster

    vault1 = witness_lab.plan.of_kind("vault")[0]
    cluster = BaoCluster([])
    try:
        peers = cluster.raft_peers(witness_lab.url(vault1.name, "api"), witness_lab.bao.harness_token)
    finally:
        cluster.close()
    assert sorted(witness_lab.plan.topology.site_of(p["node_id"]) for p in peers) == ["dc1", "dc2", "witness"]


def test_a_query_through_the_vip_answers(witness_lab) -> None:
    resp = httpx.post(f"{witness_lab.state.vip_url}/rag/query", headers={"apikey": witness_lab.consumers["alice"]},
                      json={"question": "Why add a witness?"}, timeout=30, trust_env=False)
    assert resp.status_code == 200, resp.text
