"""The CMS on a two-member etcd cluster that loses its quorum (the lab's WAN cut, one member
per DC): writes answer 503 naming etcd, a policy left pending answers 503 rather than 409
while etcd cannot commit and 409 again once it can, and no acknowledged update is lost.

etcd (two members), OPA and FerretDB run as containers; the CMS in-process. Stopping one
member takes the quorum away from the one the CMS talks to, as the cut does.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
from cms_stack import IDENTITY_KEY, ServerThread, uid

from harness.waiting import eventually
from system.cms.settings import CmsSettings
from system.cms.stores import EtcdPolicies, StoreUnavailable
from system.common.identity import Asserted

pytestmark = pytest.mark.docker


def rego(pkg: str, allow: bool) -> str:
    return f"package halab.{pkg}\n\ndefault allow := {str(allow).lower()}\n"


class Cluster:
    def __init__(self, members, mongo, cms_url: str, settings: CmsSettings) -> None:
        import httpx
        import pymongo

        self.members, self.settings = members, settings
        self.endpoint = f"{members[0].address()}:2379"
        self.http = httpx.Client(base_url=cms_url, auth=Asserted(IDENTITY_KEY, "alice"), timeout=30,
                                 trust_env=False)
        self._mongo = pymongo.MongoClient(mongo.mongo_url, serverSelectionTimeoutMS=3000, tz_aware=True)
        self.policies = self._mongo[settings.mongo_db].policies

    def quorum(self) -> str:
        """"ok", or why the CMS's etcd member cannot commit now."""
        etcd = EtcdPolicies(self.endpoint, timeout=2)
        try:
            asyncio.run(etcd.check_quorum(0.5))
            return "ok"
        except StoreUnavailable as exc:
            return exc.cause
        finally:
            etcd.close()

    def etcd_value(self, pid: str):
        from system.common.etcd import connect

        c = connect(self.endpoint, timeout=5)
        try:
            kvs = c.get_response(f"/policies/{pid}").kvs
        finally:
            c.close()
        return (kvs[0].value.decode(), kvs[0].mod_revision) if kvs else None

    def agree(self, pid: str) -> bool:
        doc, entry = self.policies.find_one({"_id": pid}), self.etcd_value(pid)
        return (doc is not None and doc["status"] == "active" and entry is not None
                and hashlib.sha256(entry[0].encode()).hexdigest() == doc["sha256"] and entry[1] == doc["etcd_revision"])

    def leave_pending(self, pid: str, token: str) -> None:
        """The record an update in flight at the cut leaves: v2 pending, not in etcd."""
        doc = self.policies.find_one({"_id": pid})
        self.policies.update_one({"_id": pid}, {"$set": {
            "status": "pending", "version": 2, "author": "bob",
            "pending": {"token": token, "op": "put", "version": 2, "author": "bob", "description": "in flight",
                        "rego": rego(pid, False), "sha256": hashlib.sha256(rego(pid, False).encode()).hexdigest(),
                        "base_revision": doc["etcd_revision"], "started_at": datetime.now(UTC)}}})

    def close(self) -> None:
        self.http.close()
        self._mongo.close()


@pytest.fixture(scope="module")
def cluster(docker_client, run_id):
    from harness.containers import EtcdContainer, FerretDBContainer, InternalNetwork, OpaContainer
    from system.cms.api import build_app

    with ExitStack() as es:
        net = es.enter_context(InternalNetwork(run_id, "cmsq"))
        names = ["q1", "q2"]
        e1 = es.enter_context(EtcdContainer(run_id).on_network(net, "q1").with_initial_cluster(names)
                              .with_health_wait(False))
        e2 = es.enter_context(EtcdContainer(run_id).on_network(net, "q2").with_initial_cluster(names))
        opa = es.enter_context(OpaContainer(run_id).on_network(net, "opa"))
        mongo = es.enter_context(FerretDBContainer(run_id).on_network(net, "mongo"))
        settings = CmsSettings(etcd_endpoint=f"{e1.address()}:2379", mongo_url=mongo.mongo_url, opa_url=opa.api_url,
                               policy_sync_url="http://127.0.0.1:9", etcd_timeout_s=2.0, etcd_probe_timeout_s=1.0,
                               mongo_timeout_ms=2000, reconcile_interval_s=0.5, pending_grace_s=3.0,
                               identity_key=IDENTITY_KEY)
        cms = es.enter_context(ServerThread(build_app(settings)))
        c = Cluster([e1, e2], mongo, cms.url, settings)
        es.callback(c.close)
        yield c


def test_lost_quorum_503_naming_etcd_then_409_once_etcd_is_back_and_nothing_lost(cluster):
    pkg, new = uid("q"), uid("n")
    cms = cluster.http
    assert cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, True), "description": "v1"}).status_code == 201
    peer = cluster.members[1].get_wrapped_container()
    peer.stop(timeout=2)
    try:
        eventually(lambda: "no leader" in cluster.quorum(), 15, "the CMS's member reports no leader")

        # a write's own etcd step: refused at once, rolled back, 503 "not applied"
        t0 = time.monotonic()
        r = cms.put(f"/cms/policies/{new}", json={"rego": rego(new, True)})
        elapsed = time.monotonic() - t0
        assert r.status_code == 503, r.text
        assert r.json()["detail"] == {"store": "etcd", "cause": "UNAVAILABLE: etcdserver: no leader",
                                      "outcome": "not applied"}
        assert r.headers["Retry-After"] == "1" and elapsed < cluster.settings.etcd_timeout_s
        assert cluster.policies.find_one({"_id": new}) is None
        r = cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, False)})
        assert r.status_code == 503 and r.json()["detail"]["outcome"] == "not applied", r.text
        assert cluster.policies.find_one({"_id": pkg})["status"] == "active"

        # a policy left pending by an update in flight at the cut: 503 naming etcd, not 409
        cluster.leave_pending(pkg, "cut")
        for r in (cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, False), "description": "v3"}),
                  cms.delete(f"/cms/policies/{pkg}")):
            assert r.status_code == 503 and r.headers["Retry-After"] == "1", r.text
            d = r.json()["detail"]
            assert (d["store"], d["outcome"], d["policy"], d["pending_version"]) == ("etcd", "not applied", pkg, 2)
            assert d["cause"] == "etcd unavailable (lost quorum or unreachable): UNAVAILABLE: etcdserver: no leader"
            assert "reconciler settles version 2" in d["detail"]
        assert cluster.policies.find_one({"_id": pkg})["pending"]["token"] == "cut"  # nothing written
    finally:
        peer.start()
    eventually(lambda: cluster.quorum() == "ok", 30, "quorum back")

    # etcd healthy and the policy pending (a writer in flight, still inside the grace): 409
    cluster.leave_pending(pkg, "in-flight")
    r = cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, False), "description": "v3"})
    assert r.status_code == 409 and "version 2 is still pending" in r.json()["detail"], r.text
    assert "Retry-After" not in r.headers

    # the reconciler rolls the record back (it never reached etcd): v1, acknowledged, is intact
    eventually(lambda: cluster.agree(pkg), cluster.settings.pending_grace_s + 10, "stores in agreement")
    doc = cluster.policies.find_one({"_id": pkg})
    assert doc["version"] == 1 and cluster.etcd_value(pkg)[0] == rego(pkg, True)
    r = cms.put(f"/cms/policies/{pkg}", json={"rego": rego(pkg, False), "description": "v2"})
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    assert [h["description"] for h in cms.get(f"/cms/policies/{pkg}").json()["history"]] == ["v1", "v2"]
    assert cluster.agree(pkg)
