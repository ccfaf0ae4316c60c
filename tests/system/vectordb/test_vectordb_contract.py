"""system/vectordb: the Qdrant REST contract, driven by qdrant-client itself.

The same tests run against our node as a process, in its container, and against the
official qdrant image (skipped with the reason when the image cannot be had), so the RAG
code is the same against either.
"""

from __future__ import annotations

import uuid

import pytest
from qdrant_client import models as m
from qdrant_client.http.exceptions import UnexpectedResponse

DIM = 4


def make(qdrant, name, **kwargs):
    qdrant.create_collection(name, vectors_config=kwargs.pop("vectors_config", m.VectorParams(size=DIM, distance=m.Distance.COSINE)),
                             **kwargs)


def docs(n=20):
    """Points whose payload is what the RAG service stores: doc_id, acl_groups, chunk."""
    groups = [["eng"], ["hr"], ["eng", "ops"], ["finance"]]
    return [m.PointStruct(id=i, vector=[1.0, i / n, (i % 3) / 3, 0.1],
                          payload={"doc_id": f"doc-{i // 2}", "chunk": i % 2, "acl_groups": groups[i % 4],
                                   "text": f"chunk {i}"}) for i in range(n)]


def test_health_and_version(http):
    assert http.get("/healthz").status_code == 200
    assert "passed" in http.get("/healthz").text
    assert http.get("/readyz").status_code == 200
    root = http.get("/").json()
    assert root["title"].startswith("qdrant") and root["version"].startswith("1.")


def test_collection_lifecycle(qdrant, collection):
    assert not qdrant.collection_exists(collection)
    make(qdrant, collection)
    assert qdrant.collection_exists(collection)
    assert collection in {c.name for c in qdrant.get_collections().collections}
    info = qdrant.get_collection(collection)
    assert info.config.params.vectors.size == DIM
    assert info.config.params.vectors.distance == m.Distance.COSINE
    assert info.points_count == 0
    with pytest.raises(UnexpectedResponse) as exc:
        make(qdrant, collection)
    assert exc.value.status_code in (400, 409)
    assert qdrant.delete_collection(collection) is True
    assert not qdrant.collection_exists(collection)
    with pytest.raises(UnexpectedResponse) as exc:
        qdrant.get_collection(collection)
    assert exc.value.status_code == 404


def test_upsert_and_retrieve_int_and_uuid_ids(qdrant, collection):
    make(qdrant, collection)
    u = str(uuid.uuid4())
    result = qdrant.upsert(collection, points=[m.PointStruct(id=7, vector=[3, 0, 0, 4], payload={"a": 1}),
                                               m.PointStruct(id=u, vector=[0, 1, 0, 0], payload={"b": [1, 2]})],
                           wait=True)
    assert result.status == m.UpdateStatus.COMPLETED
    got = {r.id: r for r in qdrant.retrieve(collection, ids=[7, u, 999], with_vectors=True)}
    assert set(got) == {7, u}
    assert got[7].payload == {"a": 1} and got[u].payload == {"b": [1, 2]}
    assert got[7].vector == pytest.approx([0.6, 0, 0, 0.8], abs=1e-6)  # cosine stores normalised vectors
    assert qdrant.get_collection(collection).points_count == 2
    # Upsert replaces.
    qdrant.upsert(collection, points=[m.PointStruct(id=7, vector=[1, 0, 0, 0], payload={"a": 2})], wait=True)
    assert qdrant.retrieve(collection, ids=[7])[0].payload == {"a": 2}


def test_batch_upsert(qdrant, collection):
    make(qdrant, collection)
    qdrant.upsert(collection, points=m.Batch(ids=[1, 2, 3], vectors=[[1, 0, 0, 0]] * 3,
                                             payloads=[{"n": 1}, {"n": 2}, {"n": 3}]), wait=True)
    assert qdrant.count(collection).count == 3


def test_query_filters_by_acl_groups(qdrant, collection):
    make(qdrant, collection)
    qdrant.upsert(collection, points=docs(), wait=True)
    eng = m.Filter(must=[m.FieldCondition(key="acl_groups", match=m.MatchAny(any=["eng"]))])
    res = qdrant.query_points(collection, query=[1, 0, 0, 0.1], query_filter=eng, limit=50, with_payload=True).points
    assert res and all("eng" in p.payload["acl_groups"] for p in res)
    assert len(res) == 10
    scores = [p.score for p in res]
    assert scores == sorted(scores, reverse=True)
    # should: at least one; must_not: none.
    either = m.Filter(should=[m.FieldCondition(key="acl_groups", match=m.MatchValue(value="hr")),
                              m.FieldCondition(key="acl_groups", match=m.MatchValue(value="finance"))])
    got = qdrant.query_points(collection, query=[1, 0, 0, 0], query_filter=either, limit=50, with_payload=True).points
    assert {tuple(p.payload["acl_groups"]) for p in got} == {("hr",), ("finance",)}
    not_eng = m.Filter(must_not=[m.FieldCondition(key="acl_groups", match=m.MatchAny(any=["eng"]))])
    got = qdrant.query_points(collection, query=[1, 0, 0, 0], query_filter=not_eng, limit=50, with_payload=True).points
    assert len(got) == 10 and all("eng" not in p.payload["acl_groups"] for p in got)
    combined = m.Filter(must=[m.FieldCondition(key="acl_groups", match=m.MatchAny(any=["eng", "hr"]))],
                        must_not=[m.FieldCondition(key="doc_id", match=m.MatchValue(value="doc-0"))])
    got = qdrant.query_points(collection, query=[1, 0, 0, 0], query_filter=combined, limit=50, with_payload=True).points
    assert got and all(p.payload["doc_id"] != "doc-0" for p in got)


def test_query_limit_payload_selector_and_vectors(qdrant, collection):
    make(qdrant, collection)
    qdrant.upsert(collection, points=docs(), wait=True)
    res = qdrant.query_points(collection, query=[1, 0, 0, 0], limit=3, with_payload=["doc_id"], with_vectors=True).points
    assert len(res) == 3
    assert all(set(p.payload) == {"doc_id"} and len(p.vector) == DIM for p in res)
    bare = qdrant.query_points(collection, query=[1, 0, 0, 0], limit=2, with_payload=False).points
    assert all(p.payload is None and p.vector is None for p in bare)
    offset = qdrant.query_points(collection, query=[1, 0, 0, 0], limit=2, offset=1).points
    first3 = qdrant.query_points(collection, query=[1, 0, 0, 0], limit=3).points
    assert [p.id for p in offset] == [p.id for p in first3[1:]]


def test_query_batch(qdrant, collection):
    make(qdrant, collection)
    qdrant.upsert(collection, points=docs(), wait=True)
    out = qdrant.query_batch_points(collection, requests=[m.QueryRequest(query=[1, 0, 0, 0], limit=2),
                                                          m.QueryRequest(query=[0, 1, 0, 0], limit=3)])
    assert [len(r.points) for r in out] == [2, 3]


def test_scroll_pages_through_everything(qdrant, collection):
    make(qdrant, collection)
    qdrant.upsert(collection, points=docs(25), wait=True)
    seen, offset, pages = [], None, 0
    while True:
        points, offset = qdrant.scroll(collection, limit=10, offset=offset, with_payload=True)
        seen += [p.id for p in points]
        pages += 1
        if offset is None:
            break
    assert pages == 3 and sorted(seen) == list(range(25))
    flt = m.Filter(must=[m.FieldCondition(key="chunk", match=m.MatchValue(value=1))])
    points, _ = qdrant.scroll(collection, scroll_filter=flt, limit=100)
    assert sorted(p.id for p in points) == list(range(1, 25, 2))


def test_count_with_filter(qdrant, collection):
    make(qdrant, collection)
    qdrant.upsert(collection, points=docs(), wait=True)
    assert qdrant.count(collection, exact=True).count == 20
    flt = m.Filter(must=[m.FieldCondition(key="acl_groups", match=m.MatchAny(any=["finance"]))])
    assert qdrant.count(collection, count_filter=flt, exact=True).count == 5


def test_delete_by_ids_and_by_filter(qdrant, collection):
    make(qdrant, collection)
    qdrant.upsert(collection, points=docs(), wait=True)
    qdrant.delete(collection, points_selector=m.PointIdsList(points=[0, 1]), wait=True)
    assert qdrant.count(collection).count == 18
    doc = m.Filter(must=[m.FieldCondition(key="doc_id", match=m.MatchValue(value="doc-3"))])
    qdrant.delete(collection, points_selector=m.FilterSelector(filter=doc), wait=True)
    assert qdrant.count(collection).count == 16
    assert qdrant.count(collection, count_filter=doc).count == 0


def test_payload_operations(qdrant, collection):
    make(qdrant, collection)
    qdrant.upsert(collection, points=docs(4), wait=True)
    qdrant.set_payload(collection, payload={"reviewed": True}, points=[0, 1], wait=True)
    assert qdrant.retrieve(collection, ids=[0])[0].payload["reviewed"] is True
    qdrant.overwrite_payload(collection, payload={"only": 1}, points=[1], wait=True)
    assert qdrant.retrieve(collection, ids=[1])[0].payload == {"only": 1}
    qdrant.delete_payload(collection, keys=["text"], points=[2], wait=True)
    assert "text" not in qdrant.retrieve(collection, ids=[2])[0].payload
    qdrant.clear_payload(collection, points_selector=m.PointIdsList(points=[3]), wait=True)
    assert not qdrant.retrieve(collection, ids=[3])[0].payload
    by_filter = m.Filter(must=[m.FieldCondition(key="reviewed", match=m.MatchValue(value=True))])
    qdrant.set_payload(collection, payload={"tag": "x"}, points=by_filter, wait=True)
    assert qdrant.count(collection, count_filter=m.Filter(must=[
        m.FieldCondition(key="tag", match=m.MatchValue(value="x"))])).count == 1


def test_payload_index_and_order_by(qdrant, collection):
    make(qdrant, collection)
    qdrant.upsert(collection, points=docs(10), wait=True)
    qdrant.create_payload_index(collection, "doc_id", m.PayloadSchemaType.KEYWORD, wait=True)
    qdrant.create_payload_index(collection, "chunk", m.PayloadSchemaType.INTEGER, wait=True)
    schema = qdrant.get_collection(collection).payload_schema
    assert schema["doc_id"].data_type == m.PayloadSchemaType.KEYWORD
    points, _ = qdrant.scroll(collection, limit=3, order_by=m.OrderBy(key="chunk", direction=m.Direction.DESC))
    assert [p.payload["chunk"] for p in points] == [1, 1, 1]


def test_named_vectors(qdrant, collection):
    make(qdrant, collection, vectors_config={"dense": m.VectorParams(size=3, distance=m.Distance.DOT)})
    qdrant.upsert(collection, points=[m.PointStruct(id=i, vector={"dense": [1.0, float(i), 0.0]}) for i in range(5)],
                  wait=True)
    res = qdrant.query_points(collection, query=[0, 1, 0], using="dense", limit=2).points
    assert [p.id for p in res] == [4, 3] and res[0].score == pytest.approx(4.0)
    rec = qdrant.retrieve(collection, ids=[2], with_vectors=True)[0]
    assert rec.vector == {"dense": [1.0, 2.0, 0.0]}


def test_wrong_input_is_400_and_missing_collection_404(qdrant, collection, http):
    make(qdrant, collection)
    with pytest.raises(UnexpectedResponse) as exc:
        qdrant.upsert(collection, points=[m.PointStruct(id=1, vector=[1.0, 2.0])], wait=True)
    assert exc.value.status_code == 400
    assert http.put(f"/collections/{collection}/points", json={"points": [{"id": "not-a-uuid", "vector": [1, 0, 0, 0]}]}
                    ).status_code == 400
    assert http.post(f"/collections/{collection}/points/query", content=b"{nope").status_code == 400
    assert http.post("/collections/missing_xyz/points/query", json={"query": [1, 0, 0, 0]}).status_code == 404
    assert "error" in http.post("/collections/missing_xyz/points/scroll", json={}).json()["status"]


def test_classic_search_endpoint(http, qdrant, collection):
    make(qdrant, collection)
    qdrant.upsert(collection, points=docs(), wait=True)
    body = {"vector": [1, 0, 0, 0.1], "limit": 3, "with_payload": True,
            "filter": {"must": [{"key": "acl_groups", "match": {"any": ["hr"]}}]}}
    r = http.post(f"/collections/{collection}/points/search", json=body)
    assert r.status_code == 200
    hits = r.json()["result"]
    assert len(hits) == 3 and all(h["payload"]["acl_groups"] == ["hr"] for h in hits)
    batch = http.post(f"/collections/{collection}/points/search/batch", json={"searches": [body, body | {"limit": 1}]})
    assert [len(x) for x in batch.json()["result"]] == [3, 1]
