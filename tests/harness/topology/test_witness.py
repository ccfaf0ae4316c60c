"""The `seed+witness` topology: a third site holds a third voter of each cluster."""

from __future__ import annotations

import pytest
from topology_support import raft_peers, sites_of

from harness.topology import etcd_tls, trust

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_etcd_has_three_members_on_three_sites(witness_lab) -> None:
    etcd1 = witness_lab.plan.of_kind("etcd")[0]
    with etcd_tls.as_root(witness_lab.state, etcd1.name) as client:
        members = [m.name for m in client.members]
    assert sorted(witness_lab.plan.topology.site_of(m) for m in members) == ["dc1", "dc2", "witness"]


def test_openbao_has_three_raft_peers(witness_lab) -> None:
    peers = raft_peers(witness_lab)
    assert sites_of(witness_lab, peers) == ["dc1", "dc2", "witness"]


def test_a_query_through_the_vip_answers(witness_lab) -> None:
    with trust.vip(witness_lab.state, timeout=30) as vip:
        resp = vip.post("/rag/query", headers={"apikey": witness_lab.consumers["alice"]},
                        json={"question": "Why add a witness?"})
    assert resp.status_code == 200, resp.text


def test_a_document_ingested_in_dc1_is_searchable_on_the_witness_vector_node(witness_lab) -> None:
    """Vector replication is a full mesh: vectordb1 ships to vectordb3 directly (and vectordb2 too)."""
    import time
    import uuid

    doc_id = f"witness-{uuid.uuid4().hex[:8]}"
    from system.common.identity import Asserted

    with trust.component(witness_lab.state, "rag1", timeout=60) as rag:
        resp = rag.post("/documents", auth=Asserted(witness_lab.state.secret("identity_key"), "erin"), json={
            "doc_id": doc_id, "title": "Witness", "acl_groups": ["eng"],
            "text": "A witness site holds the third voter of every quorum and a third copy of the vectors."})
    assert resp.status_code == 201, resp.text
    t0 = time.monotonic()
    vectordb3 = trust.component(witness_lab.state, "vectordb3", timeout=5)
    query = {"query": [0.1] * 8, "limit": 5, "with_payload": True,
             "filter": {"must": [{"key": "doc_id", "match": {"value": doc_id}}]}}
    hits: list = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        dim = vectordb3.get("/collections/halab_chunks")
        if dim.status_code == 200:
            query["query"] = [0.1] * dim.json()["result"]["config"]["params"]["vectors"]["size"]
            r = vectordb3.post("/collections/halab_chunks/points/query", json=query)
            hits = r.json()["result"]["points"] if r.status_code == 200 else []
            if hits:
                break
        time.sleep(0.1)
    assert hits and all(h["payload"]["doc_id"] == doc_id for h in hits)
    print(f"witness: a dc1 document searchable on vectordb3 {time.monotonic() - t0:.2f} s after its ingest")
    statuses = {}
    for name in ("vectordb1", "vectordb2", "vectordb3"):
        with trust.component(witness_lab.state, name, timeout=5) as node:
            statuses[name] = node.get("/replication").json()
    for name, s in statuses.items():
        assert len(s["peers"]) == 2 and s["peers_reachable"] == 2, (name, s["peers"])
