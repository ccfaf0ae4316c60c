"""policy_sync against real etcd and OPA containers: follow, etcd restart, compaction."""

from __future__ import annotations

import uuid

import pytest

from harness.waiting import eventually
from system.policy_sync.source import EtcdSource

pytestmark = pytest.mark.docker




def rego(pkg: str, allow: bool) -> str:
    return f"package halab.{pkg}\n\ndefault allow := false\n\nallow := {str(allow).lower()}\n"


@pytest.fixture
def sync(sync_stack):
    s = sync_stack.new_sync()
    s.start()
    yield s
    s.stop()


def test_follows_etcd_into_opa_and_reports_the_revision(sync_stack, sync):
    pkg = f"t{uuid.uuid4().hex[:8]}"
    etcd = sync_stack.etcd_client()
    eventually(sync.synced.is_set, what="first sync")
    etcd.put(f"/policies/{pkg}", rego(pkg, False))
    etcd.put(f"/policies/{pkg}", rego(pkg, True))
    rev = etcd.get_response(f"/policies/{pkg}").kvs[0].mod_revision
    eventually(lambda: sync.status()["policies"].get(pkg) == rev, what="revision loaded")
    st = sync.status()
    assert st["revision"] >= rev and st["etcd_connected"] and st["resyncs"] == 1 and st["events_applied"] >= 2
    assert sync_stack.decide(f"halab/{pkg}/allow") is True
    etcd.delete(f"/policies/{pkg}")
    eventually(lambda: pkg not in sync_stack.opa_policies(), what="delete applied")
    assert sync_stack.decide(f"halab/{pkg}/allow") is None
    etcd.close()


def test_recovers_from_an_etcd_restart_and_keeps_opa_serving_meanwhile(sync_stack, sync):
    pkg, gone = f"t{uuid.uuid4().hex[:8]}", f"g{uuid.uuid4().hex[:8]}"
    etcd = sync_stack.etcd_client()
    etcd.put(f"/policies/{pkg}", rego(pkg, True))
    etcd.put(f"/policies/{gone}", rego(gone, True))
    eventually(lambda: sync_stack.decide(f"halab/{gone}/allow") is True, what="policies loaded")
    etcd.close()
    container = sync_stack.etcd.get_wrapped_container()
    container.stop(timeout=5)
    try:
        eventually(lambda: not sync.status()["etcd_connected"], what="sync notices etcd is gone")
        # OPA keeps serving the last policies while etcd is away.
        assert sync_stack.decide(f"halab/{pkg}/allow") is True
        revision_before = sync.status()["revision"]
    finally:
        container.start()
    eventually(lambda: sync_stack.etcd.health().get("health") == "true", what="etcd back")
    etcd = sync_stack.etcd_client()
    etcd.put(f"/policies/{pkg}", rego(pkg, False))
    etcd.delete(f"/policies/{gone}")
    eventually(lambda: sync_stack.decide(f"halab/{pkg}/allow") is False
               and sync_stack.decide(f"halab/{gone}/allow") is None, what="changes after restart")
    eventually(lambda: sync.status()["etcd_connected"], what="watching again")
    st = sync.status()
    assert st["resyncs"] >= 2 and st["revision"] > revision_before
    etcd.close()


def test_recovers_from_a_compaction_past_its_revision(sync_stack):
    """Between the snapshot and the watch, policies change and etcd compacts past them: the
    watch from the snapshot's revision is refused as compacted, and a full resync catches up."""
    pkg, gone = f"t{uuid.uuid4().hex[:8]}", f"g{uuid.uuid4().hex[:8]}"
    admin = sync_stack.etcd_client()
    admin.put(f"/policies/{pkg}", rego(pkg, False))
    admin.put(f"/policies/{gone}", rego(gone, True))
    done = {"n": 0}

    class CompactingSource(EtcdSource):
        def snapshot(self):
            snap = super().snapshot()
            if done["n"] == 0:
                done["n"] = 1
                admin.put(f"/policies/{pkg}", rego(pkg, True))
                admin.delete(f"/policies/{gone}")
                rev = admin.get_response("/nothing").header.revision
                admin.compact(rev, physical=True)
            return snap

    s = sync_stack.new_sync(lambda: CompactingSource(sync_stack.endpoint, timeout=1.0))
    s.start()
    try:
        eventually(lambda: s.status()["compactions"] >= 1, what="compacted watch seen")
        eventually(lambda: sync_stack.decide(f"halab/{pkg}/allow") is True
                   and sync_stack.decide(f"halab/{gone}/allow") is None, what="resync after compaction")
        assert s.status()["resyncs"] >= 2
    finally:
        s.stop()
        admin.close()


def test_service_exposes_status_health_and_readiness(sync_stack):
    from fastapi.testclient import TestClient

    from system.policy_sync.app import build_app
    from system.policy_sync.settings import PolicySyncSettings

    settings = PolicySyncSettings(etcd_endpoint=sync_stack.endpoint, opa_url=sync_stack.opa_url)
    with TestClient(build_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        eventually(lambda: client.get("/readyz").status_code == 200, what="ready")
        st = client.get("/status").json()
        assert st["synced"] and st["etcd_connected"] and st["revision"] > 0
