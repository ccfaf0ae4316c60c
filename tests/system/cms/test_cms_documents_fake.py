"""Policy documents (`/cms/policy-data`, etcd `/policies/data/<id>`) against in-memory fakes:
the policies' write protocol and reconciler over their own stores, the HTTP contract, and
the policies' etcd view (a real EtcdPolicies on a fake gRPC member) ignoring their keys."""

from __future__ import annotations

import asyncio
import json
from concurrent import futures
from datetime import timedelta

import grpc
import pytest
from cms_fakes import FakeCompiler, FakeEtcd, FakeMetadata, FakeProbe
from fastapi.testclient import TestClient

from system.cms.api import build_app
from system.cms.documents import DocumentInvalid, JsonObjectValidator, canonical_json
from system.cms.policies import PolicyService, sha256, utcnow
from system.cms.reconciler import Reconciler
from system.cms.settings import CmsSettings
from system.cms.stores import EtcdPolicies, MongoMetadata
from system.common import identity
from system.common.etcd import etcd3

KEY = "the-gateways-and-the-cms-share-this"
REGO = "package halab.t\n\ndefault allow := false\n"
DATA = {"routes": ["/rag", "/llm"], "limits": {"rpm": 60}}
TEXT = canonical_json(DATA)


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def client():
    meta, etcd, comp, probe = FakeMetadata(), FakeEtcd(), FakeCompiler(), FakeProbe()
    app = build_app(CmsSettings(reconciler_enabled=False, max_body_bytes=4096, enforce_timeout_s=0.2,
                                identity_key=KEY), meta=meta, etcd=etcd, compiler=comp, probe=probe)
    with TestClient(app, headers=identity.headers(KEY.encode(), "alice", ttl_s=3600)) as c:
        c.fakes = (meta, etcd, comp, probe)
        c.docs = (meta.documents(), etcd.documents())  # what build_app derived for the documents
        yield c


def nothing_written(c) -> bool:
    dmeta, detcd = c.docs
    meta, etcd = c.fakes[:2]
    return not (dmeta.docs or dmeta.claims or detcd.kv or meta.docs or etcd.kv)


# ------------------------------------------------------------------ HTTP


def test_fakes_document_create_read_update_unchanged_delete_with_history(client):
    dmeta, detcd = client.docs
    r = client.put("/cms/policy-data/limits", json={"data": DATA, "description": "first"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["result"], body["version"], body["created"]) == ("update successful", 1, True)
    # stored as canonical JSON text, in the documents' stores only
    assert detcd.kv["limits"].value == '{"limits":{"rpm":60},"routes":["/rag","/llm"]}'
    assert body["etcd_revision"] == detcd.kv["limits"].mod_revision
    assert client.fakes[1].kv == {} and client.fakes[0].docs == {}
    got = client.get("/cms/policy-data/limits").json()
    assert (got["data"], got["version"], got["status"], got["author"]) == (DATA, 1, "active", "alice")
    assert got["sha256"] == sha256(TEXT)

    # the same content, spelt otherwise (key order, spaces): unchanged, no new version
    same = client.put("/cms/policy-data/limits", content=b'{"data": {"routes": ["/rag", "/llm"], "limits": {"rpm": 60}},'
                                                         b' "description": "first"}',
                      headers={"Content-Type": "application/json"})
    assert same.status_code == 200 and same.json()["unchanged"] is True and same.json()["version"] == 1

    r = client.put("/cms/policy-data/limits", json={"data": {"limits": {"rpm": 10}}, "description": "tighter"})
    assert r.status_code == 200 and r.json()["version"] == 2 and not r.json()["created"]
    assert json.loads(detcd.kv["limits"].value) == {"limits": {"rpm": 10}}
    listed = client.get("/cms/policy-data").json()["documents"]
    assert [(d["id"], d["version"], d["status"]) for d in listed] == [("limits", 2, "active")]

    r = client.delete("/cms/policy-data/limits", params={"expected_version": 2})
    assert r.status_code == 200 and r.json()["result"] == "deletion successful" and r.json()["status"] == "deleted"
    assert "limits" not in detcd.kv
    assert client.get("/cms/policy-data/limits").status_code == 404
    assert client.get("/cms/policy-data").json()["documents"] == []
    gone = client.get("/cms/policy-data/limits", params={"include_deleted": "true"}).json()
    assert (gone["status"], gone["version"], gone["data"]) == ("deleted", 3, None)
    assert [(h["version"], h["op"], h["description"]) for h in gone["history"]] == [
        (1, "put", "first"), (2, "put", "tighter"), (3, "delete", "tighter")]
    again = client.put("/cms/policy-data/limits", json={"data": {}})
    assert again.status_code == 201 and again.json()["version"] == 4
    assert dmeta.docs["limits"]["history"][-1]["author"] == "alice"


@pytest.mark.parametrize("body", [
    {"data": [1, 2]}, {"data": "{\"a\": 1}"}, {"data": "{not json"}, {"data": 3}, {"data": None}, {"data": True}])
def test_fakes_document_that_is_no_object_is_400_and_nothing_written(client, body):
    r = client.put("/cms/policy-data/x", json=body)
    assert r.status_code == 400, r.text
    assert "must be a JSON object" in r.json()["detail"]["message"]
    assert nothing_written(client)


@pytest.mark.parametrize(("raw", "status"), [
    (b"{not json", 400), (b'{"data": {"a": NaN}}', 400), (b'{"data": {"a": "\\ud800"}}', 400),
    (b"[1]", 422)])  # a body that is no object at all: FastAPI's 422, as for the policies
def test_fakes_document_body_not_storable_json_is_refused_and_nothing_written(client, raw, status):
    r = client.put("/cms/policy-data/x", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert nothing_written(client)


def test_fakes_document_errors_answer_as_the_policies_do(client):
    dmeta, detcd = client.docs
    assert client.get("/cms/policy-data/nope").status_code == 404
    assert "no such policy document: nope" in client.get("/cms/policy-data/nope").text
    assert client.delete("/cms/policy-data/nope").status_code == 404
    assert client.put("/cms/policy-data/bad%20id", json={"data": {}}).status_code == 400
    assert client.put("/cms/policy-data/x", json={"data": {"pad": "#" * 5000}}).status_code == 413
    assert client.put("/cms/policy-data/x", json={"data": {}}, headers={"X-Consumer-Username": "bob"}).status_code == 401
    assert client.put("/cms/policy-data/x", json={"data": {"a": 1}}).status_code == 201
    r = client.put("/cms/policy-data/x", json={"data": {"a": 2}, "expected_version": 0})
    assert r.status_code == 409 and "policy document 'x' is at version 1, not 0" in r.json()["detail"]
    assert client.delete("/cms/policy-data/x", params={"expected_version": 5}).status_code == 409
    assert dmeta.docs["x"]["version"] == 1 and json.loads(detcd.kv["x"].value) == {"a": 1}
    detcd.down = True
    r = client.put("/cms/policy-data/x", json={"data": {"a": 3}})
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert r.json()["detail"] == {"store": "etcd", "cause": "UNAVAILABLE: fake down", "outcome": "not applied"}
    detcd.down = False
    dmeta.down = True  # one MongoDB client: the policies' store is down too
    assert client.fakes[0].down and client.put("/cms/policy-data/x", json={"data": {"a": 3}}).status_code == 503
    dmeta.down = False


def test_fakes_documents_need_no_opa_and_time_their_validation(client):
    client.fakes[2].down = True  # OPA compiles Rego; documents do not go near it
    r = client.put("/cms/policy-data/x", json={"data": {"a": 1}})
    assert r.status_code == 201
    steps = {part.split(";")[0] for part in r.headers["Server-Timing"].split(", ")}
    assert {"validate", "mongo_read", "mongo_pending", "etcd_txn", "mongo_active", "cms"} <= steps
    assert "opa_compile" not in steps


def test_fakes_document_wait_enforced_is_keyed_on_data_id(client):
    _, detcd = client.docs
    probe = client.fakes[3]
    assert client.put("/cms/policy-data/r", json={"data": {"a": 1}}).status_code == 201
    rev = detcd.kv["r"].mod_revision
    # policy_sync reporting a *policy* `r` at that revision is not the document
    probe.value = {"revision": rev, "policies": {"r": rev}, "errors": {}}
    r = client.put("/cms/policy-data/r", json={"data": {"a": 1}, "description": "d"}, params={"wait": "enforced"})
    assert r.status_code == 202 and r.json()["enforced"] is False
    rev = detcd.kv["r"].mod_revision
    probe.value = {"revision": rev, "policies": {"data/r": rev}, "errors": {}}
    r = client.put("/cms/policy-data/r", json={"data": {"a": 1}, "description": "e"}, params={"wait": "enforced"})
    assert r.status_code == 202  # the new revision is not reported yet
    probe.value = {"revision": detcd.revision, "policies": {"data/r": detcd.kv["r"].mod_revision}, "errors": {}}
    r = client.put("/cms/policy-data/r", json={"data": {"a": 1}, "description": "e"}, params={"wait": "enforced"})
    assert r.status_code == 200 and r.json()["unchanged"] and r.json()["enforced"] is True
    assert "enforce_wait" in r.headers["Server-Timing"]
    probe.value = {"revision": detcd.revision + 1, "policies": {}, "errors": {
        "data/r": {"revision": detcd.revision + 1, "message": "OPA said no"}}}
    r = client.put("/cms/policy-data/r", json={"data": {"b": 2}}, params={"wait": "enforced"})
    assert r.status_code == 202 and "OPA said no" in r.json()["enforce_detail"]
    probe.value = {"revision": detcd.revision + 1, "policies": {}, "errors": {}}
    r = client.delete("/cms/policy-data/r", params={"wait": "enforced"})
    assert r.status_code == 200 and r.json()["enforced"] is True


def test_fakes_document_writes_are_counted_apart_from_the_policies(client):
    from prometheus_client.parser import text_string_to_metric_families

    assert client.put("/cms/policy-data/x", json={"data": {}}).status_code == 201
    assert client.put("/cms/policy-data/x", json={"data": []}).status_code == 400
    assert client.put("/cms/policies/p", json={"rego": REGO}).status_code == 201
    counts = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name.endswith("writes_total") and s.value:
                counts[(s.name, s.labels["op"], s.labels["outcome"])] = s.value
    assert counts == {("halab_cms_policy_data_writes_total", "put", "applied"): 1,
                      ("halab_cms_policy_data_writes_total", "put", "invalid"): 1,
                      ("halab_cms_policy_writes_total", "put", "applied"): 1}


def test_fakes_openapi_documents_the_document_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/cms/policy-data", "/cms/policy-data/{document_id}"} <= set(paths)
    one = paths["/cms/policy-data/{document_id}"]
    assert {"200", "201", "202", "400", "401", "404", "409", "413", "503"} <= set(one["put"]["responses"])
    assert "Retry-After" in one["delete"]["responses"]["503"]["headers"]
    assert "/cms/reconcile" in paths


# ------------------------------------------------------------------ reconciler


def test_fakes_documents_reconciler_adopts_restores_and_rolls_forward(client):
    dmeta, detcd = client.docs
    meta, etcd = client.fakes[:2]
    assert client.put("/cms/policy-data/kept", json={"data": {"a": 1}}).status_code == 201
    assert client.put("/cms/policy-data/lost", json={"data": {"b": 1}}).status_code == 201
    assert client.put("/cms/policies/p", json={"rego": REGO}).status_code == 201
    detcd.raw_put("orphan", '{"c":1}')   # content under /policies/data/ without metadata
    detcd.raw_delete("lost")              # active metadata, no etcd content
    detcd.mode = "unknown"                # applied in etcd, never answered: left pending
    assert client.put("/cms/policy-data/kept", json={"data": {"a": 2}}).status_code == 503
    detcd.mode = "ok"
    assert dmeta.docs["kept"]["status"] == "pending"
    r = client.post("/cms/reconcile")
    assert r.status_code == 200, r.text
    # only the documents' reconciler found anything (ids as policy_sync names them): the
    # policies' one saw none of their keys
    assert {d["id"]: d["action"] for d in r.json()["repairs"]} == {
        "data/kept": "rolled forward", "data/lost": "restored", "data/orphan": "adopted"}
    assert set(meta.docs) == {"p"} and set(etcd.kv) == {"p"}
    assert dmeta.docs["orphan"]["author"] == "reconciler"
    assert client.get("/cms/policy-data/orphan").json()["data"] == {"c": 1}
    assert client.get("/cms/policy-data/kept").json()["data"] == {"a": 2}
    assert json.loads(detcd.kv["lost"].value) == {"b": 1}
    assert client.post("/cms/reconcile").json() == {"repairs": []}


def test_fakes_documents_reconciler_rolls_back_a_stale_pending_document():
    meta, etcd = FakeMetadata().documents(), FakeEtcd().documents()
    svc = PolicyService(meta, etcd, JsonObjectValidator(), noun="policy document")
    run(svc.put("d", TEXT, "", "alice"))
    doc = meta.docs["d"]
    other = canonical_json({"z": 1})
    meta.docs["d"] = {**doc, "status": "pending", "version": 2,
                      "pending": {"token": "t", "op": "put", "version": 2, "author": "x", "description": "",
                                  "rego": other, "sha256": sha256(other), "base_revision": doc["etcd_revision"],
                                  "started_at": utcnow() - timedelta(seconds=100)}}
    assert [r.action for r in run(Reconciler(svc, grace_s=10).run_once())] == ["rolled back"]
    assert (meta.docs["d"]["status"], meta.docs["d"]["version"], etcd.kv["d"].value) == ("active", 1, TEXT)


def test_fakes_document_validator_accepts_canonical_objects_only():
    v = JsonObjectValidator()
    run(v.validate("d", '{"a":1}'))
    for text, words in (('[1]', "not an array"), ('{"a": 1}', "canonical"), ("{", "not JSON"),
                        ('"s"', "not a string"), ('{"a":NaN}', "not storable")):
        with pytest.raises(DocumentInvalid, match=words):
            run(v.validate("d", text))


# ------------------------------------------------------------------ the stores


class _KvMember(etcd3.etcdrpc.KVServicer):
    """One etcd member on 127.0.0.1 that answers a range from `kv` (key -> value)."""

    def __init__(self, kv: dict[str, str]) -> None:
        self.kv = kv
        self.server = grpc.server(futures.ThreadPoolExecutor(2))
        etcd3.etcdrpc.add_KVServicer_to_server(self, self.server)
        self.endpoint = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def Range(self, request, context):
        start, end = request.key.decode(), request.range_end.decode()
        resp = etcd3.etcdrpc.RangeResponse(header=etcd3.etcdrpc.ResponseHeader(revision=9))
        for k, v in sorted(self.kv.items()):
            if start <= k < end if end else k == start:
                resp.kvs.add(key=k.encode(), value=v.encode(), mod_revision=7)
        return resp


def test_fakes_the_policies_etcd_list_ignores_the_document_keys():
    """Without the filter the Rego reconciler would adopt `data/limits` as a policy."""
    member = _KvMember({"/policies/authz": REGO, "/policies/data/limits": TEXT, "/other": "x"})
    etcd = EtcdPolicies(member.endpoint, timeout=2.0)
    try:
        revision, entries = run(etcd.list())
        assert (revision, set(entries)) == (9, {"authz"})
        revision, entries = run(etcd.documents().list())
        assert set(entries) == {"limits"} and entries["limits"].value == TEXT
        assert etcd.documents().members is etcd.members and etcd.documents().key("x") == "/policies/data/x"
    finally:
        etcd.close()
        member.server.stop(0)


def test_fakes_mongo_documents_view_shares_the_client():
    meta = MongoMetadata("mongodb://127.0.0.1:1/", "halab", timeout_ms=100)  # never connects
    docs = meta.documents()
    assert (docs.policies.name, docs.claims.name, docs.users.name) == ("policy_data", "policy_data_claims", "users")
    assert (meta.policies.name, meta.claims.name) == ("policies", "policy_claims")
    assert docs._client is meta._client and docs._db.name == "halab"
    run(docs.close())  # a view does not close the shared client
    run(meta.close())
