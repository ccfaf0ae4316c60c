"""The CMS against in-memory fakes: the write protocol, the reconciler, the HTTP contract."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from cms_fakes import FakeCompiler, FakeEtcd, FakeMetadata, FakeProbe
from fastapi.testclient import TestClient

from system.cms.api import build_app
from system.cms.policies import Conflict, PolicyService, WriteFailed, sha256, utcnow
from system.cms.reconciler import Reconciler
from system.cms.settings import CmsSettings
from system.common import identity

REGO = "package halab.t\n\ndefault allow := false\n"
KEY = "the-gateways-and-the-cms-share-this"
REGO2 = "package halab.t\n\ndefault allow := true\n"


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def fakes():
    meta, etcd, comp = FakeMetadata(), FakeEtcd(), FakeCompiler()
    svc = PolicyService(meta, etcd, comp)
    return meta, etcd, comp, svc


def agree(meta: FakeMetadata, etcd: FakeEtcd) -> bool:
    """MongoDB and etcd say the same: active docs are in etcd with their content, nothing else is."""
    for pid, doc in meta.docs.items():
        e = etcd.kv.get(pid)
        if doc["status"] == "pending":
            return False
        if doc["status"] == "active" and (e is None or sha256(e.value) != doc["sha256"] or e.mod_revision != doc["etcd_revision"]):
            return False
        if doc["status"] == "deleted" and e is not None:
            return False
    return all(pid in meta.docs for pid in etcd.kv)


# ------------------------------------------------------------------ protocol


def test_create_update_delete_keep_versions_and_history(fakes):
    meta, etcd, _, svc = fakes
    r1 = run(svc.put("a", REGO, "first", "alice"))
    assert (r1.version, r1.created, r1.etcd_revision) == (1, True, etcd.kv["a"].mod_revision)
    r2 = run(svc.put("a", REGO2, "second", "bob"))
    assert r2.version == 2 and not r2.created and etcd.kv["a"].value == REGO2
    same = run(svc.put("a", REGO2, "second", "bob"))
    assert same.unchanged and same.version == 2
    r3 = run(svc.delete("a", "carol"))
    assert r3.version == 3 and "a" not in etcd.kv and meta.docs["a"]["status"] == "deleted"
    r4 = run(svc.put("a", REGO, "again", "alice"))
    assert r4.version == 4 and r4.created
    doc = meta.docs["a"]
    assert [h["version"] for h in doc["history"]] == [1, 2, 3, 4]
    assert [h["op"] for h in doc["history"]] == ["put", "put", "delete", "put"]
    assert [h["author"] for h in doc["history"]] == ["alice", "bob", "carol", "alice"]
    assert agree(meta, etcd)


def test_expected_version_conflict_writes_nothing(fakes):
    meta, etcd, _, svc = fakes
    run(svc.put("a", REGO, "", "alice"))
    rev = etcd.revision
    with pytest.raises(Conflict):
        run(svc.put("a", REGO2, "", "bob", expected_version=0))
    assert etcd.revision == rev and meta.docs["a"]["version"] == 1


def test_etcd_compare_failure_is_409_and_rolled_back(fakes):
    meta, etcd, _, svc = fakes
    run(svc.put("a", REGO, "", "alice"))
    etcd.raw_put("a", REGO2)  # an out-of-band write: the metadata's revision is stale
    with pytest.raises(Conflict):
        run(svc.put("a", "package halab.t\nx := 1\n", "", "bob"))
    doc = meta.docs["a"]
    assert (doc["status"], doc["version"]) == ("active", 1)


def test_pending_blocks_other_writers(fakes):
    meta, etcd, _, svc = fakes
    run(svc.put("a", REGO, "", "alice"))
    etcd.mode = "unknown"
    with pytest.raises(WriteFailed) as exc:
        run(svc.put("a", REGO2, "", "bob"))
    assert exc.value.body["outcome"] == "unknown"
    etcd.mode = "ok"
    assert meta.docs["a"]["status"] == "pending"
    with pytest.raises(Conflict):
        run(svc.put("a", REGO, "x", "carol"))


def test_etcd_down_is_not_applied_and_leaves_nothing_active(fakes):
    meta, etcd, _, svc = fakes
    run(svc.put("a", REGO, "", "alice"))
    etcd.down = True
    with pytest.raises(WriteFailed) as exc:
        run(svc.put("a", REGO2, "", "bob"))
    assert exc.value.body == {"store": "etcd", "cause": "UNAVAILABLE: fake down", "outcome": "not applied"}
    with pytest.raises(WriteFailed):
        run(svc.put("new", REGO2, "", "bob"))
    etcd.down = False
    assert meta.docs["a"]["version"] == 1 and meta.docs["a"]["status"] == "active"
    assert "new" not in meta.docs
    assert agree(meta, etcd)


def test_mongo_down_after_etcd_write_is_committed_and_rolled_forward(fakes):
    meta, etcd, _, svc = fakes
    run(svc.put("a", REGO, "", "alice"))
    real_update = meta.update_policy_if
    calls = {"n": 0}

    async def flaky(pid, cond, update):
        calls["n"] += 1
        if calls["n"] == 2:  # the second update is step 4 (activation)
            raise __import__("system.cms.stores", fromlist=["x"]).StoreUnavailable("mongo", "fake", None)
        return await real_update(pid, cond, update)

    meta.update_policy_if = flaky
    with pytest.raises(WriteFailed) as exc:
        run(svc.put("a", REGO2, "", "bob"))
    meta.update_policy_if = real_update
    assert exc.value.body["outcome"] == "committed"
    assert meta.docs["a"]["status"] == "pending" and etcd.kv["a"].value == REGO2
    repairs = run(Reconciler(svc, grace_s=60).run_once())
    assert [r.action for r in repairs] == ["rolled forward"]
    assert meta.docs["a"]["version"] == 2 and agree(meta, etcd)


# ------------------------------------------------------------------ reconciler


def test_reconciler_repairs_every_disagreement(fakes):
    meta, etcd, _, svc = fakes
    for pid in ("missing", "differs", "drift", "deleted", "stale"):
        run(svc.put(pid, REGO, "", "alice"))
    run(svc.delete("deleted", "alice"))
    etcd.raw_delete("missing")                      # active metadata, no etcd content
    etcd.raw_put("differs", REGO2)                   # active metadata, other content
    etcd.raw_put("drift", REGO)                      # same content, other revision
    etcd.raw_put("deleted", REGO)                     # deleted metadata, content back
    etcd.raw_put("orphan", REGO2)                    # content without metadata
    doc = meta.docs["stale"]                         # a pending update that never reached etcd
    meta.docs["stale"] = {**doc, "status": "pending", "version": 2,
                          "pending": {"token": "t", "op": "put", "version": 2, "author": "x", "description": "",
                                      "rego": REGO2, "sha256": sha256(REGO2), "base_revision": doc["etcd_revision"],
                                      "started_at": utcnow() - timedelta(seconds=100)}}
    rec = Reconciler(svc, grace_s=10)
    actions = {r.id: r.action for r in run(rec.run_once())}
    assert actions == {"missing": "restored", "differs": "rewritten", "drift": "revision recorded",
                       "deleted": "deleted from etcd", "orphan": "adopted", "stale": "rolled back"}
    assert agree(meta, etcd)
    assert run(rec.run_once()) == []
    assert etcd.kv["differs"].value == REGO and etcd.kv["missing"].value == REGO
    assert meta.docs["stale"]["version"] == 1 and meta.docs["orphan"]["author"] == "reconciler"


def test_reconciler_waits_out_the_grace_of_a_young_pending_record(fakes):
    meta, etcd, _, svc = fakes
    run(svc.put("a", REGO, "", "alice"))
    etcd.mode = "unknown"
    etcd.down = False
    # an update whose etcd write never happened: make put_if fail before applying
    etcd.down = True
    with pytest.raises(WriteFailed):
        run(svc.put("b", REGO, "", "alice"))
    etcd.down = False
    etcd.mode = "ok"
    doc = meta.docs["a"]
    meta.docs["a"] = {**doc, "status": "pending", "version": 2,
                      "pending": {"token": "t", "op": "put", "version": 2, "author": "x", "description": "",
                                  "rego": REGO2, "sha256": sha256(REGO2), "base_revision": doc["etcd_revision"],
                                  "started_at": utcnow()}}
    rec = Reconciler(svc, grace_s=30)
    assert run(rec.run_once()) == []
    assert meta.docs["a"]["status"] == "pending"


# ------------------------------------------------------------------ HTTP


@pytest.fixture
def client(fakes):
    meta, etcd, comp, _ = fakes
    probe = FakeProbe()
    app = build_app(CmsSettings(reconciler_enabled=False, max_body_bytes=4096, enforce_timeout_s=0.2,
                                identity_key=KEY), meta=meta, etcd=etcd, compiler=comp, probe=probe)
    with TestClient(app, headers=identity.headers(KEY.encode(), "alice", ttl_s=3600)) as c:
        c.fakes = (meta, etcd, comp, probe)
        yield c


def test_http_contract(client):
    meta, etcd, comp, probe = client.fakes
    assert client.put("/cms/policies/a", json={"rego": REGO}, headers={"X-Consumer-Username": ""}).status_code == 401
    # A caller on the DC network names itself an admin: without the gateway's signature, refused.
    r = client.put("/cms/policies/a", json={"rego": REGO}, headers={"X-Consumer-Username": "halab-admin"})
    assert r.status_code == 401 and "does not match" in r.text
    r = client.put("/cms/policies/a", json={"rego": REGO}, headers=identity.headers(b"another-key", "halab-admin"))
    assert r.status_code == 401 and client.fakes[1].kv == {}
    r = client.put("/cms/policies/a", json={"rego": REGO, "description": "d"})
    assert r.status_code == 201 and r.json()["result"] == "update successful" and r.json()["version"] == 1
    assert client.get("/cms/policies/a").json()["history"][0]["author"] == "alice"
    assert client.get("/cms/policies/nope").status_code == 404
    assert client.delete("/cms/policies/nope").status_code == 404
    bad = client.put("/cms/policies/a", json={"rego": "package x {"})
    assert bad.status_code == 400 and "rego_parse_error" in bad.json()["detail"]["message"]
    assert client.put("/cms/policies/a", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.put("/cms/policies/a", json={"rego": REGO + "#" * 5000}).status_code == 413
    assert client.put("/cms/policies/bad%20id", json={"rego": REGO}).status_code == 400
    assert client.put("/cms/policies/a", json={"rego": REGO2, "expected_version": 7}).status_code == 409
    assert meta.docs["a"]["version"] == 1 and etcd.kv["a"].value == REGO
    etcd.down = True
    r = client.put("/cms/policies/a", json={"rego": REGO2})
    assert r.status_code == 503 and r.json()["detail"]["store"] == "etcd"
    etcd.down = False
    meta.down = True
    r = client.put("/cms/policies/a", json={"rego": REGO2})
    assert r.status_code == 503 and r.json()["detail"]["store"] == "mongo"
    meta.down = False
    comp.down = True
    assert client.put("/cms/policies/a", json={"rego": REGO2}).status_code == 503
    comp.down = False
    assert client.get("/readyz").status_code == 200


def test_wait_enforced_answers_202_after_timeout_and_200_once_loaded(client):
    meta, etcd, comp, probe = client.fakes
    r = client.put("/cms/policies/a", json={"rego": REGO}, params={"wait": "enforced"})
    assert r.status_code == 202 and r.json()["enforced"] is False
    rev = etcd.kv["a"].mod_revision
    probe.value = {"revision": rev + 1, "policies": {"a": rev + 1}, "errors": {}}
    r = client.put("/cms/policies/a", json={"rego": REGO, "description": "x"}, params={"wait": "enforced"})
    assert r.status_code == 200 and r.json()["enforced"] is True


def test_users_crud(client):
    assert client.get("/cms/users/bob").status_code == 404
    r = client.put("/cms/users/bob", json={"groups": ["eng", "ops"], "role": "user"})
    assert r.status_code == 201 and r.json() == {"name": "bob", "groups": ["eng", "ops"], "role": "user"}
    assert client.put("/cms/users/bob", json={"groups": [], "role": "admin"}).status_code == 200
    assert client.get("/cms/users").json()["users"] == [{"name": "bob", "groups": [], "role": "admin"}]
    assert client.put("/cms/users/bob", json={"role": "root"}).status_code == 422
    assert client.delete("/cms/users/bob").status_code == 204
    assert client.delete("/cms/users/bob").status_code == 404
    assert client.fakes[0].users == {}


def test_openapi_documents_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/cms/policies", "/cms/policies/{policy_id}", "/cms/users", "/cms/users/{name}", "/cms/reconcile"} <= set(paths)
    assert {"200", "400", "401", "409", "413", "503"} <= set(paths["/cms/policies/{policy_id}"]["put"]["responses"])


def test_lone_surrogates_are_refused_before_any_write(client):
    r = client.put("/cms/policies/a", content=b'{"rego": "package x\\n# \\ud800\\n"}',
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and client.fakes[1].kv == {}


def test_seed_installs_the_default_policy_set(client):
    from system.cms.seed import default_policies, seed

    first = seed("http://testserver", admin="root", client=client, identity_key=KEY)
    assert [r["version"] for r in first] == [1]
    again = seed("http://testserver", admin="root", client=client, identity_key=KEY)
    assert again[0]["unchanged"] is True
    meta, etcd = client.fakes[0], client.fakes[1]
    assert etcd.kv["authz"].value == default_policies()["authz"]["rego"]
    assert meta.docs["authz"]["author"] == "root"
    # the route rules the policy reads, as a document, written first
    from system.policies import DEFAULT_DOCUMENTS
    from system.policy_sync.opa import canonical

    routes = etcd.documents().kv["authz-routes"]
    assert routes.value == canonical(json.dumps(DEFAULT_DOCUMENTS["authz-routes"]))
    assert routes.mod_revision < etcd.kv["authz"].mod_revision


# ------------------------------------------------------------------ a pending policy: 409 or 503


def _leave_pending(svc, etcd, pid="a"):
    """v1 active, then an update whose etcd txn is applied but never answered (a WAN cut in
    flight): v2 stays pending, its content in etcd."""
    run(svc.put(pid, REGO, "v1", "alice"))
    etcd.mode = "unknown"
    with pytest.raises(WriteFailed):
        run(svc.put(pid, REGO2, "v2", "bob"))
    etcd.mode = "ok"


def test_fakes_pending_policy_while_etcd_down_is_503_naming_etcd_and_nothing_lost(fakes):
    meta, etcd, _, svc = fakes
    _leave_pending(svc, etcd)
    before, claims = meta.docs["a"], dict(meta.claims)
    etcd.down = True
    for write in (lambda: svc.put("a", "package halab.t\nx := 3\n", "v3", "carol"),
                  lambda: svc.delete("a", "carol")):
        with pytest.raises(WriteFailed) as exc:
            run(write())
        body = exc.value.body
        assert (body["store"], body["outcome"], body["policy"], body["pending_version"]) == \
            ("etcd", "not applied", "a", 2)
        assert body["cause"] == "etcd unavailable (lost quorum or unreachable): UNAVAILABLE: fake down"
        assert "reconciler settles version 2" in body["detail"] and exc.value.retry_after_s == svc.retry_after_s
    assert meta.docs["a"] == before and meta.claims == claims  # nothing of these requests was written
    etcd.down = False
    assert [r.action for r in run(Reconciler(svc, grace_s=60).run_once())] == ["rolled forward"]
    doc = meta.docs["a"]
    assert (doc["status"], doc["version"], [h["description"] for h in doc["history"]]) == ("active", 2, ["v1", "v2"])
    assert run(svc.put("a", "package halab.t\nx := 3\n", "v3", "carol")).version == 3 and agree(meta, etcd)


def test_fakes_pending_policy_while_etcd_healthy_stays_409(fakes):
    meta, etcd, _, svc = fakes
    _leave_pending(svc, etcd)
    with pytest.raises(Conflict, match="version 2 is still pending"):
        run(svc.put("a", REGO, "x", "carol"))
    with pytest.raises(Conflict, match="version 2 is still pending"):
        run(svc.delete("a", "carol"))
    assert etcd.quorum_checks == 2 and meta.docs["a"]["status"] == "pending"


def test_fakes_a_pending_claim_older_than_any_writer_is_503_not_a_conflict(fakes):
    """An update that ended `unknown` leaves its claim; once no writer can still be behind it,
    the next writers are told of an outage's leftover (503, retry), not of a concurrent writer."""
    meta, etcd, _, svc = fakes
    clock = {"now": utcnow()}
    svc.now = lambda: clock["now"]
    _leave_pending(svc, etcd)
    with pytest.raises(Conflict):
        run(svc.put("a", REGO, "x", "carol"))
    clock["now"] += timedelta(seconds=svc.writer_deadline_s + 1)
    with pytest.raises(WriteFailed) as exc:
        run(svc.put("a", REGO, "x", "carol"))
    assert exc.value.body["outcome"] == "not applied" and exc.value.body["pending_version"] == 2
    assert "unsettled" in exc.value.body["cause"] and exc.value.retry_after_s == svc.retry_after_s
    assert meta.docs["a"]["status"] == "pending"  # nothing of the refused request was written


def test_fakes_etcd_is_probed_only_when_a_pending_record_is_found(fakes):
    _, etcd, _, svc = fakes
    run(svc.put("a", REGO, "", "alice"))
    run(svc.put("a", REGO2, "", "alice"))
    run(svc.delete("a", "alice"))
    assert etcd.quorum_checks == 0


def test_fakes_http_pending_policy_503_with_retry_after_when_etcd_down_409_when_healthy(client):
    meta, etcd, _, _ = client.fakes
    assert client.put("/cms/policies/a", json={"rego": REGO}).status_code == 201
    etcd.mode = "unknown"
    r = client.put("/cms/policies/a", json={"rego": REGO2})
    assert r.status_code == 503 and r.json()["detail"]["outcome"] == "unknown" and "Retry-After" not in r.headers
    etcd.mode = "ok"
    started = meta.docs["a"]["pending"]["started_at"]
    etcd.down = True
    for r in (client.put("/cms/policies/a", json={"rego": REGO, "description": "x"}), client.delete("/cms/policies/a")):
        assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text
        assert r.json()["detail"] == {
            "store": "etcd", "cause": "etcd unavailable (lost quorum or unreachable): UNAVAILABLE: fake down",
            "outcome": "not applied", "policy": "a", "pending_version": 2,
            "detail": f"version 2 of 'a' is pending since {started} and etcd cannot commit; nothing of this "
                      f"request was written. The reconciler settles version 2 within about 20 s once etcd is "
                      f"back; retry then"}
    # the request's own etcd step refused: 503, rolled back, with Retry-After too
    r = client.put("/cms/policies/b", json={"rego": REGO})
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert r.json()["detail"] == {"store": "etcd", "cause": "UNAVAILABLE: fake down", "outcome": "not applied"}
    assert "b" not in meta.docs
    etcd.down = False
    r = client.put("/cms/policies/a", json={"rego": REGO, "description": "x"})
    assert r.status_code == 409 and "version 2 is still pending" in r.json()["detail"]
    assert "Retry-After" not in r.headers


def test_openapi_documents_the_writes_503_with_retry_after(client):
    paths = client.get("/openapi.json").json()["paths"]["/cms/policies/{policy_id}"]
    for method in ("put", "delete"):
        r503 = paths[method]["responses"]["503"]
        examples = r503["content"]["application/json"]["examples"]
        assert "Retry-After" in r503["headers"] and "pending_while_etcd_down" in examples
        assert "still pending while etcd is healthy" in paths[method]["responses"]["409"]["description"]


def test_fakes_metrics_count_each_dual_write_outcome(client):
    from prometheus_client.parser import text_string_to_metric_families

    meta, etcd, _, _ = client.fakes
    assert client.put("/cms/policies/a", json={"rego": REGO}).status_code == 201
    assert client.put("/cms/policies/a", json={"rego": REGO}).status_code == 200  # unchanged
    assert client.put("/cms/policies/a", json={"rego": REGO2, "expected_version": 9}).status_code == 409
    assert client.put("/cms/policies/a", json={"rego": "package x {"}).status_code == 400
    etcd.down = True
    assert client.put("/cms/policies/a", json={"rego": REGO2}).status_code == 503  # not applied
    etcd.down = False
    etcd.mode = "unknown"
    assert client.put("/cms/policies/a", json={"rego": REGO2}).status_code == 503  # unknown: pending
    etcd.mode = "ok"
    assert client.delete("/cms/policies/nope").status_code == 404
    writes, steps = {}, set()
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name == "halab_cms_policy_writes_total":
                writes[(s.labels["op"], s.labels["outcome"])] = s.value
            if s.name == "halab_cms_write_step_seconds_count":
                steps.add(s.labels["step"])
    assert {k: v for k, v in writes.items() if v} == {
        ("put", "applied"): 1, ("put", "unchanged"): 1, ("put", "conflict"): 1, ("put", "invalid"): 1,
        ("put", "not_applied"): 1, ("put", "unknown"): 1, ("delete", "not_found"): 1}
    assert ("delete", "committed") in writes  # every outcome has a series before it happens
    assert {"opa_compile", "mongo_pending", "etcd_txn", "mongo_active", "cms"} <= steps
