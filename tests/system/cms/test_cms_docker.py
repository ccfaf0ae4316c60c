"""The CMS against real etcd, OPA and FerretDB containers (policy_sync and CMS in-process)."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC

import pytest
from cms_stack import IDENTITY_KEY, uid

from harness.waiting import eventually

pytestmark = pytest.mark.docker




def rego(pkg: str, allow: bool | str) -> str:
    value = str(allow).lower() if isinstance(allow, bool) else allow
    return f"package halab.{pkg}\n\ndefault allow := false\n\nallow := {value}\n"


def stores(stack, pid: str):
    """(MongoDB document, etcd (value, mod_revision)) for one policy."""
    doc = stack.mongo_db().policies.find_one({"_id": pid})
    c = stack.etcd_client()
    try:
        resp = c.get_response(f"/policies/{pid}")
    finally:
        c.close()
    entry = (resp.kvs[0].value.decode(), resp.kvs[0].mod_revision) if resp.kvs else None
    return doc, entry


def agree(stack, pid: str) -> bool:
    """The invariant: active metadata <-> the same content at the recorded revision in etcd."""
    doc, entry = stores(stack, pid)
    if doc is None or doc["status"] == "deleted":
        return entry is None
    if doc["status"] != "active" or entry is None:
        return False
    return hashlib.sha256(entry[0].encode()).hexdigest() == doc["sha256"] and entry[1] == doc["etcd_revision"]


def test_seed_installs_the_default_policy_and_opa_decides_with_it(stack):
    from system.cms.seed import seed

    results = seed(stack.cms_url, admin="root", wait_enforced=True, identity_key=IDENTITY_KEY)
    assert results[0]["enforced"] is True
    authz = lambda method, path, role, user="u1": stack.opa_data(
        "halab/authz", {"type": "http", "request": {"method": method, "path": path, "headers": {}, "query": {}},
                        "consumer": {"username": user, "labels": {"role": role}}, "route": {"id": "r"}})
    assert authz("PUT", "/cms/policies/x", "admin")["allow"] is True
    assert authz("POST", "/rag/query", "user")["allow"] is True
    assert authz("POST", "/llm/chat", "service")["allow"] is True
    assert authz("POST", "/llm/chat", "user")["allow"] is False
    denied = authz("PUT", "/cms/policies/x", "user")
    assert denied["allow"] is False and denied["status_code"] == 403 and "/cms/policies/x" in denied["reason"]
    anonymous = stack.opa_data("halab/authz", {"type": "http", "consumer": {},
                                               "request": {"method": "POST", "path": "/rag/query", "headers": {}}})
    assert anonymous["allow"] is False and anonymous["status_code"] == 401
    assert seed(stack.cms_url, admin="root", identity_key=IDENTITY_KEY)[0]["unchanged"] is True


def test_a_policy_through_the_cms_changes_an_opa_decision(stack):
    pkg = uid("t")
    cms = stack.cms()
    r = cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, False), "description": "deny"},
                params={"wait": "enforced"})
    assert r.status_code == 201, r.text
    assert r.json()["result"] == "update successful" and r.json()["enforced"] is True
    assert stack.opa_data(f"halab/{pkg}/allow") is False
    r = cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, True), "description": "allow"})
    assert r.status_code == 200 and r.json()["version"] == 2
    # Where it spent its time; `cms` is its own share, the waits on the stores taken out.
    steps = {k.strip(): float(v) for k, _, v in (e.partition(";dur=") for e in r.headers["Server-Timing"].split(","))}
    assert {"opa_compile", "mongo_pending", "etcd_txn", "mongo_active", "cms"} <= set(steps)
    assert 0 <= steps["cms"] < r.elapsed.total_seconds() * 1000
    # answered before OPA loaded it (as the architecture says); it follows shortly
    eventually(lambda: stack.opa_data(f"halab/{pkg}/allow") is True, 10, "OPA decision changed")
    got = cms.get(f"/cms/policies/{pkg}").json()
    assert [h["description"] for h in got["history"]] == ["deny", "allow"]
    assert got["etcd_revision"] == r.json()["etcd_revision"] and agree(stack, pkg)
    assert cms.delete(f"/cms/policies/{pkg}", params={"wait": "enforced"}).status_code == 200
    assert stack.opa_data(f"halab/{pkg}/allow") is None


def test_rejected_requests_leave_both_stores_unchanged(stack):
    pkg, new = uid("t"), uid("n")
    cms = stack.cms()
    assert cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, True)}).status_code == 201
    before = stores(stack, pkg)
    bad = cms.put(f"/cms/policies/{pkg}", json={"rego": f"package halab.{pkg}\nallow if {{ input.x = }}\n"})
    assert bad.status_code == 400 and "rego_parse_error" in bad.json()["detail"]["message"], bad.text
    unsafe = cms.put(f"/cms/policies/{pkg}", json={"rego": f"package halab.{pkg}\nallow if x > 1\n"})
    assert unsafe.status_code == 400 and "unsafe" in unsafe.json()["detail"]["message"], unsafe.text
    assert pkg in unsafe.json()["detail"]["message"] and "halab_cms_validate" not in unsafe.text
    big = cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, True) + "#" * (stack.settings.max_body_bytes + 1)})
    assert big.status_code == 413
    malformed = cms.put(f"/cms/policies/{pkg}", content=b'{"rego": ', headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert stack.cms(user=None).put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, False)}).status_code == 401
    assert cms.get(f"/cms/policies/{new}").status_code == 404
    assert cms.delete(f"/cms/policies/{new}").status_code == 404
    assert cms.put(f"/cms/policies/{new}", json={"rego": "package"}).status_code == 400
    assert stores(stack, pkg) == before
    assert stores(stack, new) == (None, None)
    assert stack.opa_data(f"halab/{pkg}/allow") is True


def test_concurrent_updates_exactly_one_409_per_conflict(stack):
    pkg = uid("t")
    cms = stack.cms()
    assert cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, "1 == 2")}).status_code == 201
    for round_ in range(10):
        version = cms.get(f"/cms/policies/{pkg}").json()["version"]
        barrier = threading.Barrier(2)
        answers: dict[int, object] = {}

        def update(i: int) -> None:
            c = stack.cms(user=f"writer{i}")
            body = {"rego": rego(pkg, f"{round_} == {i + 10}"), "expected_version": version}
            barrier.wait()
            answers[i] = c.put(f"/cms/policies/{pkg}", json=body)

        threads = [threading.Thread(target=update, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(a.status_code for a in answers.values())
        assert codes == [200, 409], [a.text for a in answers.values()]
        winner = next(i for i, a in answers.items() if a.status_code == 200)
        doc, entry = stores(stack, pkg)
        assert doc["version"] == version + 1 and doc["author"] == f"writer{winner}"
        assert entry[0] == rego(pkg, f"{round_} == {winner + 10}") and agree(stack, pkg)

    # a free-for-all without preconditions: every answer is 200 or 409, and the versions add up
    version = cms.get(f"/cms/policies/{pkg}").json()["version"]
    answers = []
    barrier = threading.Barrier(6)

    def racer(i: int) -> None:
        c = stack.cms(user=f"racer{i}")
        barrier.wait()
        answers.append(c.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, f"{i} == {i}"), "description": str(i)}))

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [a for a in answers if a.status_code == 200]
    assert all(a.status_code in (200, 409) for a in answers) and ok
    doc, _ = stores(stack, pkg)
    assert doc["version"] == version + len(ok) and agree(stack, pkg)


def test_etcd_stopped_during_an_update_503_then_the_reconciler_restores_agreement(stack):
    pkg, new = uid("t"), uid("n")
    cms = stack.cms()
    assert cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, True)}, params={"wait": "enforced"}).status_code == 201
    container = stack.etcd.get_wrapped_container()
    container.stop(timeout=5)
    try:
        r = cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, False)})
        assert r.status_code == 503 and r.json()["detail"]["store"] == "etcd", r.text
        assert r.json()["detail"]["outcome"] in ("not applied", "unknown")
        r2 = cms.put(f"/cms/policies/{new}", json={"rego": rego(new, True)})
        assert r2.status_code == 503
        ready = cms.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["etcd"] != "ok"
        # nothing is active that is not in etcd
        doc = stack.mongo_db().policies.find_one({"_id": pkg})
        assert doc["status"] == "pending" or (doc["status"] == "active" and doc["version"] == 1)
        assert stack.mongo_db().policies.find_one({"_id": new, "status": "active"}) is None
        # OPA still decides with what it had
        assert stack.opa_data(f"halab/{pkg}/allow") is True
    finally:
        container.start()
    eventually(lambda: stack.etcd.health().get("health") == "true", 30, "etcd back")
    bound = stack.settings.reconcile_interval_s + stack.settings.pending_grace_s + 2 * stack.settings.etcd_timeout_s
    t0 = time.monotonic()
    eventually(lambda: agree(stack, pkg) and agree(stack, new), bound + 10, "stores in agreement")
    print(f"agreement {time.monotonic() - t0:.2f} s after etcd answered again (bound {bound:.1f} s)")
    doc, entry = stores(stack, pkg)
    assert doc["version"] == 1 and entry[0] == rego(pkg, True)
    r = cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, False)}, params={"wait": "enforced"})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["enforced"] is True


def test_mongo_stopped_503_and_etcd_untouched(stack):
    pkg = uid("t")
    cms = stack.cms()
    assert cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, True)}).status_code == 201
    _, before = stores(stack, pkg)
    container = stack.mongo.get_wrapped_container()
    container.stop(timeout=5)
    try:
        r = cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, False)})
        assert r.status_code == 503 and r.json()["detail"]["store"] == "mongo", r.text
        c = stack.etcd_client()
        assert c.get_response(f"/policies/{pkg}").kvs[0].mod_revision == before[1]
        c.close()
    finally:
        container.start()
    eventually(lambda: cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, False)}).status_code == 200, 30,
               "CMS writes again")
    eventually(lambda: agree(stack, pkg), 10, "agreement")


def test_the_reconciler_repairs_disagreements_made_behind_its_back(stack):
    active_missing, differs, orphan, pending = uid("m"), uid("d"), uid("o"), uid("p")
    cms = stack.cms()
    for pid in (active_missing, differs, pending):
        assert cms.put(f"/cms/policies/{pid}", json={"rego": rego(pid, True)}).status_code == 201
    c = stack.etcd_client()
    c.delete(f"/policies/{active_missing}")
    c.put(f"/policies/{differs}", rego(differs, False))
    c.put(f"/policies/{orphan}", rego(orphan, True))
    c.close()
    # a pending update whose etcd write never happened (the CMS died after step 2)
    from datetime import datetime, timedelta

    doc = stack.mongo_db().policies.find_one({"_id": pending})
    stack.mongo_db().policies.update_one({"_id": pending}, {"$set": {
        "status": "pending", "version": 2,
        "pending": {"token": "dead", "op": "put", "version": 2, "author": "ghost", "description": "",
                    "rego": rego(pending, False), "sha256": "x", "base_revision": doc["etcd_revision"],
                    "started_at": datetime.now(UTC) - timedelta(seconds=60)}}})
    eventually(lambda: all(agree(stack, p) for p in (active_missing, differs, orphan, pending)), 15, "repairs")
    assert stores(stack, active_missing)[1][0] == rego(active_missing, True)
    assert stores(stack, differs)[1][0] == rego(differs, True)
    assert stores(stack, orphan)[0]["author"] == "reconciler"
    assert stores(stack, pending)[0]["version"] == 1
    assert cms.post("/cms/reconcile").json() == {"repairs": []}


def test_user_profiles_are_stored_for_the_rag_service(stack):
    cms = stack.cms()
    name = uid("user")
    assert cms.put(f"/cms/users/{name}", json={"groups": ["eng"], "role": "user"}).status_code == 201
    assert stack.mongo_db().users.find_one({"_id": name}) == {"_id": name, "name": name, "groups": ["eng"], "role": "user"}
    assert cms.put(f"/cms/users/{name}", json={"groups": ["eng", "ops"], "role": "admin"}).json()["role"] == "admin"
    assert any(u["name"] == name for u in cms.get("/cms/users").json()["users"])
    assert cms.delete(f"/cms/users/{name}").status_code == 204
    assert cms.get(f"/cms/users/{name}").status_code == 404


def test_etcd_paused_during_an_update_outcome_unknown_then_settled(stack):
    """A paused etcd swallows the txn: the CMS times out (503, outcome "unknown") and leaves
    the record pending; etcd applies the txn when it wakes up, and the reconciler rolls the
    metadata forward (or back, had it never arrived). Either way the stores agree."""
    pkg = uid("t")
    cms = stack.cms()
    assert cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, True)}).status_code == 201
    container = stack.etcd.get_wrapped_container()
    container.pause()
    try:
        r = cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, False)})
        assert r.status_code == 503 and r.json()["detail"]["store"] == "etcd", r.text
        outcome = r.json()["detail"]["outcome"]
        doc = stack.mongo_db().policies.find_one({"_id": pkg})
        assert doc["status"] == "pending" or doc["version"] == 1
    finally:
        container.unpause()
    eventually(lambda: agree(stack, pkg), stack.settings.pending_grace_s + 15, "stores in agreement")
    doc, entry = stores(stack, pkg)
    assert (doc["version"], entry[0]) in ((1, rego(pkg, True)), (2, rego(pkg, False)))
    print(f"outcome {outcome!r}: settled at version {doc['version']} ({doc['history'][-1]['author']})")
    eventually(lambda: stack.opa_data(f"halab/{pkg}/allow") is (doc["version"] == 1), 10, "OPA follows")
