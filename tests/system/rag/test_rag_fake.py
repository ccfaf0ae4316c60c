"""The RAG service against fakes: in-memory Qdrant (qdrant-client's local mode), a dict
MongoDB, a recording LLM. No containers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from qdrant_client import AsyncQdrantClient

from system.common import identity
from system.rag.app import build_app
from system.rag.deps import RagDeps
from system.rag.embedding import HashingEmbedder
from system.rag.llm import LlmUnavailable
from system.rag.settings import RagSettings
from system.rag.vectors import VectorStore


class FakeStore:
    def __init__(self, users: dict[str, dict]):
        self.users = users
        self.docs: dict[str, dict] = {}

    async def user(self, name):
        return self.users.get(name)

    async def documents(self, ids):
        return {i: self.docs[i] for i in ids if i in self.docs}

    async def document(self, doc_id):
        return self.docs.get(doc_id)

    async def put_document(self, doc_id, title, acl_groups, chunks):
        self.docs[doc_id] = {"_id": doc_id, "title": title, "acl_groups": acl_groups, "chunks": chunks}
        return self.docs[doc_id]

    async def delete_document(self, doc_id):
        return self.docs.pop(doc_id, None) is not None

    async def ping(self):
        return None

    async def close(self):
        return None


class FakeLlm:
    def __init__(self, fail: bool = False):
        self.calls: list[list[dict]] = []
        self.fail = fail

    async def chat(self, messages, request_id=None):
        if self.fail:
            raise LlmUnavailable("both gateways down")
        self.calls.append(messages)
        return f"answer from {len(messages)} messages", "local"

    async def close(self):
        return None


class BrokenClient:
    """A qdrant client whose every call fails (the local node is down)."""

    def __getattr__(self, name):
        async def fail(*a, **k):
            raise ConnectionError("node down")
        return fail


KEY = "rag-and-gateway-share-this"
USERS = {"alice": {"_id": "alice", "groups": ["eng"], "role": "user"},
         "bob": {"_id": "bob", "groups": ["sales"], "role": "user"},
         "carol": {"_id": "carol", "groups": [], "role": "user"}}


def signed(user: str) -> dict[str, str]:
    """What the gateway sends for a consumer (system/common/identity.py)."""
    return identity.headers(KEY.encode(), user)


@pytest.fixture
def rag():
    settings = RagSettings(embed_dim=64, identity_key=KEY)
    store, llm = FakeStore(USERS), FakeLlm()
    vectors = VectorStore([BrokenClient(), AsyncQdrantClient(location=":memory:")], "chunks", timeout_s=1.0)
    deps = RagDeps(settings=settings, store=store, vectors=vectors, embedder=HashingEmbedder(64), llm=llm)
    with TestClient(build_app(settings, deps=deps)) as client:
        yield client, store, llm


def ingest(client, doc_id, text, groups):
    r = client.post("/documents", json={"doc_id": doc_id, "title": doc_id.upper(), "text": text, "acl_groups": groups},
                    headers=signed("erin"))
    assert r.status_code == 201, r.text
    return r.json()


def test_query_sees_only_own_groups_and_falls_back_to_remote_node(rag):
    client, store, llm = rag
    out = ingest(client, "eng-1", "The deploy pipeline uses blue green releases. " * 30, ["eng"])
    assert out["chunks"] > 1 and out["vector_node"] == "remote"
    ingest(client, "sales-1", "The deploy pipeline discount for enterprise customers. " * 5, ["sales"])
    r = client.post("/query", json={"question": "how does the deploy pipeline work"}, headers=signed("alice"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert {s["doc_id"] for s in body["sources"]} == {"eng-1"}
    assert body["vector_node"] == "remote"
    assert set(body["timings_ms"]) == {"profile", "embed", "search", "metadata", "prompt", "llm", "total"}
    assert body["degraded"] is None
    assert "[source: eng-1#" in llm.calls[-1][1]["content"] and "sales-1" not in llm.calls[-1][1]["content"]
    r = client.post("/query", json={"question": "deploy pipeline"}, headers=signed("bob"))
    assert {s["doc_id"] for s in r.json()["sources"]} == {"sales-1"}


def test_user_without_groups_gets_no_sources(rag):
    client, _, _ = rag
    ingest(client, "eng-1", "secret roadmap", ["eng"])
    r = client.post("/query", json={"question": "roadmap"}, headers=signed("carol"))
    assert r.status_code == 200 and r.json()["sources"] == []


def test_metadata_is_the_last_word(rag):
    client, store, _ = rag
    ingest(client, "eng-1", "kubernetes upgrade notes", ["eng"])
    store.docs["eng-1"]["acl_groups"] = ["legal"]  # ACL narrowed in MongoDB, vectors not yet
    r = client.post("/query", json={"question": "kubernetes upgrade"}, headers=signed("alice"))
    assert r.json()["sources"] == []


def test_identity_and_errors(rag):
    client, _, llm = rag
    assert client.post("/query", json={"question": "x"}).status_code == 401
    # A caller on the DC network names a user: without the gateway's signature it is no one.
    forged = {"X-Consumer-Username": "alice"}
    assert client.post("/query", json={"question": "x"}, headers=forged).status_code == 401
    other = identity.headers(b"not-the-gateways-key", "alice")
    assert client.post("/query", json={"question": "x"}, headers=other).status_code == 401
    bob_signed = signed("bob")
    r = client.post("/query", json={"question": "x"}, headers={**bob_signed, "X-Consumer-Username": "alice"})
    assert r.status_code == 401 and "does not match" in r.text
    assert client.post("/query", json={"question": "x"}, headers=signed("mallory")).status_code == 403
    assert client.post("/query", content=b"{not json", headers={**signed("alice"),
                                                                 "Content-Type": "application/json"}).status_code == 400
    assert client.post("/documents", json={"title": "t", "text": "x", "acl_groups": ["eng"]}).status_code == 401
    assert client.post("/documents", json={"title": "t", "text": "x", "acl_groups": ["bad group"]},
                       headers=signed("erin")).status_code == 422
    llm.fail = True  # an LLM outage is no error: the query answers with its sources (test_rag_degraded_fake.py)
    r = client.post("/query", json={"question": "x"}, headers=signed("alice"))
    assert r.status_code == 200 and r.json()["degraded"]["reason"] == "llm-unreachable", r.text


def test_reingest_replaces_chunks_and_delete(rag):
    client, store, _ = rag
    ingest(client, "d", "alpha " * 500, ["eng"])
    out = ingest(client, "d", "beta gamma", ["eng"])
    assert out["chunks"] == 1
    r = client.post("/query", json={"question": "alpha", "top_k": 10}, headers=signed("alice"))
    assert [s["chunk"] for s in r.json()["sources"]] == [0]
    assert client.get("/documents/d", headers=signed("erin")).json()["chunks"] == 1
    assert client.delete("/documents/d").status_code == 401
    assert client.delete("/documents/d", headers=signed("erin")).status_code == 204
    assert client.get("/documents/d", headers=signed("erin")).status_code == 404
