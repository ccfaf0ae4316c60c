"""Bundle mode against real etcd and OPA: OPA long-polls policy_sync's bundle and reports what it activated.

policy_sync runs in-process under uvicorn on the test network's bridge address, which is
the host's own address there, so the OPA container reaches it as OPA would reach its
sidecar.
"""

from __future__ import annotations

import json
import threading
import uuid
from contextlib import ExitStack

import httpx
import pytest
import uvicorn

from harness.process import free_port
from harness.waiting import eventually
from system.policy_sync.bundle import NAME

pytestmark = pytest.mark.docker


def rego(pkg: str, allow: object) -> str:
    return f"package halab.{pkg}\n\nallow := {str(allow).lower() if isinstance(allow, bool) else allow}\n"


class BundleStack:
    def __init__(self, etcd, opa, sync) -> None:
        self.etcd, self.opa, self.sync = etcd, opa, sync
        self.endpoint = f"{etcd.address()}:2379"

    def etcd_client(self):
        from system.common.etcd import connect

        return connect(self.endpoint, timeout=5)

    def decide(self, path: str):
        r = httpx.post(f"{self.opa.api_url}/v1/data/{path}", json={"input": {}}, trust_env=False, timeout=5)
        r.raise_for_status()
        return r.json().get("result")

    def activations(self) -> int:
        return self.sync.status()["bundle"]["activations"]


@pytest.fixture(scope="module")
def stack(docker_client, run_id):
    from harness.containers import EtcdContainer, InternalNetwork, OpaContainer
    from system.policy_sync.app import build_app
    from system.policy_sync.bundle_sync import BundleSync
    from system.policy_sync.opa import OpaData
    from system.policy_sync.source import EtcdSource

    with ExitStack() as es:
        net = es.enter_context(InternalNetwork(run_id, "psbundle"))
        etcd = es.enter_context(EtcdContainer(run_id).on_network(net, "etcd"))
        endpoint = f"{etcd.address()}:2379"
        host = docker_client.networks.get(net.id).attrs["IPAM"]["Config"][0]["Gateway"]
        port = free_port()
        # OPA first: its downloads fail until policy_sync serves, and it retries within 2 s
        opa = es.enter_context(OpaContainer(run_id).on_network(net, "opa")
                               .with_bundle_service(f"http://{host}:{port}/opa"))
        sync = BundleSync(lambda: EtcdSource(endpoint, timeout=1.0), OpaData(opa.api_url), heartbeat_s=0.3,
                          verify_interval_s=60, backoff_min_s=0.1, backoff_max_s=0.5)
        server = uvicorn.Server(uvicorn.Config(build_app(sync=sync), host=host, port=port, log_level="warning",
                                               access_log=False, lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        es.callback(thread.join, 10)
        es.callback(setattr, server, "should_exit", True)
        eventually(lambda: server.started, what="policy_sync serving")
        st = BundleStack(etcd, opa, sync)
        eventually(sync.synced.is_set, what="OPA activated the first snapshot")
        yield st


def test_follows_etcd_into_opa_and_reports_the_revision_opa_activated(stack):
    pkg = f"t{uuid.uuid4().hex[:8]}"
    etcd = stack.etcd_client()
    etcd.put(f"/policies/{pkg}", rego(pkg, False))
    etcd.put(f"/policies/{pkg}", rego(pkg, True))
    rev = etcd.get_response(f"/policies/{pkg}").kvs[0].mod_revision
    eventually(lambda: stack.sync.status()["policies"].get(pkg) == rev, what="revision activated")
    st = stack.sync.status()
    assert st["revision"] >= rev and st["bundle"]["active"] == st["bundle"]["offered"]
    assert stack.decide(f"halab/{pkg}/allow") is True
    # OPA names a bundle's module by bundle and file, which is where chaos/final.py reads it
    r = httpx.get(f"{stack.opa.api_url}/v1/policies/{NAME}/{pkg}.rego", trust_env=False, timeout=5)
    assert r.status_code == 200 and r.json()["result"]["raw"] == rego(pkg, True)
    etcd.delete(f"/policies/{pkg}")
    eventually(lambda: stack.decide(f"halab/{pkg}/allow") is None, what="delete activated")
    assert pkg not in stack.sync.status()["policies"]
    etcd.close()


def test_a_burst_while_opa_is_busy_costs_a_few_compiles_not_one_per_policy(stack):
    """OPA frozen (as if compiling) while 20 distinct policies change: when it runs again it
    takes the bundle its long poll was answered with, then the newest one, which holds all 20
    (1 activation here, 4 on a slower CI machine: never 20)."""
    pkgs = [f"b{i}{uuid.uuid4().hex[:6]}" for i in range(20)]
    etcd = stack.etcd_client()
    container = stack.opa.get_wrapped_container()
    before = stack.activations()
    container.pause()
    try:
        for pkg in pkgs:
            etcd.put(f"/policies/{pkg}", rego(pkg, True))
    finally:
        container.unpause()
    last = etcd.get_response(f"/policies/{pkgs[-1]}").kvs[0].mod_revision
    eventually(lambda: stack.sync.status()["revision"] >= last, what="all 20 activated")
    assert all(stack.decide(f"halab/{pkg}/allow") is True for pkg in pkgs)
    compiles = stack.activations() - before
    print(f"20 distinct policies changed while OPA was frozen: {compiles} activation(s)")
    assert compiles <= 5, stack.sync.status()["bundle"]
    etcd.close()


def test_a_refused_policy_is_reported_and_the_rest_of_its_batch_is_loaded(stack):
    good, bad = f"g{uuid.uuid4().hex[:8]}", f"x{uuid.uuid4().hex[:8]}"
    etcd = stack.etcd_client()
    etcd.put(f"/policies/{bad}", rego(bad, 1))
    first = etcd.get_response(f"/policies/{bad}").kvs[0].mod_revision
    eventually(lambda: stack.decide(f"halab/{bad}/allow") == 1, what="the first version loaded")
    ok, _ = etcd.transaction(compare=[], success=[
        etcd.transactions.put(f"/policies/{good}", rego(good, True)),
        etcd.transactions.put(f"/policies/{bad}", f"package halab.{bad}\n\nallow := \n")], failure=[])
    assert ok
    refused = etcd.get_response(f"/policies/{bad}").kvs[0].mod_revision
    eventually(lambda: stack.sync.status()["errors"].get(bad, {}).get("revision") == refused, what="refusal reported")
    eventually(lambda: stack.sync.status()["revision"] >= refused, what="the batch counted as applied")
    st = stack.sync.status()
    assert "rego_parse_error" in st["errors"][bad]["message"]
    assert st["policies"][bad] == first and stack.decide(f"halab/{bad}/allow") == 1  # the old version kept
    assert stack.decide(f"halab/{good}/allow") is True
    etcd.put(f"/policies/{bad}", rego(bad, 2))  # fixed: the refusal goes
    eventually(lambda: stack.decide(f"halab/{bad}/allow") == 2, what="the fixed version loaded")
    eventually(lambda: bad not in stack.sync.status()["errors"], what="refusal cleared")
    etcd.close()


def test_a_restarted_opa_downloads_the_bundle_again_by_itself(stack):
    pkg = f"r{uuid.uuid4().hex[:8]}"
    etcd = stack.etcd_client()
    etcd.put(f"/policies/{pkg}", rego(pkg, True))
    eventually(lambda: stack.decide(f"halab/{pkg}/allow") is True, what="loaded")
    container = stack.opa.get_wrapped_container()
    etcd.put("/policies/data/restart", json.dumps({"allow": [pkg]}))
    eventually(lambda: stack.decide("policy_data/restart") == {"allow": [pkg]}, what="document written")
    container.restart(timeout=5)
    eventually(lambda: stack.decide(f"halab/{pkg}/allow") is True, timeout_s=30, what="bundle loaded again after restart",
               retry=(Exception,))
    # the documents went with the process: policy_sync puts them back when OPA's report names a new instance
    eventually(lambda: stack.decide("policy_data/restart") == {"allow": [pkg]}, timeout_s=10,
               what="document put back after restart", retry=(Exception,))
    etcd.delete("/policies/data/restart")
    etcd.close()


def test_a_document_changes_a_decision_without_any_compile(stack):
    """A Rego module that reads its parameters from data.policy_data: changing the document
    changes the decision, and OPA activates no bundle for it."""
    pkg, doc = f"d{uuid.uuid4().hex[:8]}", f"acl{uuid.uuid4().hex[:6]}"
    etcd = stack.etcd_client()
    etcd.put(f"/policies/{pkg}", f"package halab.{pkg}\n\nallow if input.group in data.policy_data.{doc}.groups\n")
    etcd.put(f"/policies/data/{doc}", json.dumps({"groups": ["editors"]}))
    decide = lambda group: httpx.post(f"{stack.opa.api_url}/v1/data/halab/{pkg}/allow", json={"input": {"group": group}},
                                      trust_env=False, timeout=5).json().get("result")
    eventually(lambda: decide("editors") is True, what="module and document loaded")
    before = stack.activations()
    etcd.put(f"/policies/data/{doc}", json.dumps({"groups": ["editors", "readers"]}))
    rev = etcd.get_response(f"/policies/data/{doc}").kvs[0].mod_revision
    eventually(lambda: decide("readers") is True, what="the new document decides")
    eventually(lambda: stack.sync.status()["revision"] >= rev, what="revision reported")
    assert stack.activations() == before and stack.sync.status()["policies"][f"data/{doc}"] == rev
    etcd.put(f"/policies/data/{doc}", "{not json")
    bad = etcd.get_response(f"/policies/data/{doc}").kvs[0].mod_revision
    eventually(lambda: stack.sync.status()["errors"].get(f"data/{doc}", {}).get("revision") == bad, what="refused")
    assert decide("readers") is True  # the last good document stays
    etcd.delete(f"/policies/data/{doc}")
    eventually(lambda: decide("editors") is None, what="document deleted: the rule is undefined")
    etcd.close()


def test_rest_writes_outside_the_bundles_roots_still_work_and_inside_are_refused(stack):
    """The CMS's compile check PUTs a scratch module under its own namespace: it must still
    work, while a REST write into a policy's package is refused (the bundle owns it)."""
    pkg = f"o{uuid.uuid4().hex[:8]}"
    etcd = stack.etcd_client()
    etcd.put(f"/policies/{pkg}", rego(pkg, True))
    eventually(lambda: stack.decide(f"halab/{pkg}/allow") is True, what="loaded")
    url = stack.opa.api_url
    scratch = httpx.put(f"{url}/v1/policies/scratch{pkg}", content=f"package scratch{pkg}.halab\nallow := 1\n",
                        trust_env=False, timeout=5)
    assert scratch.status_code == 200
    httpx.delete(f"{url}/v1/policies/scratch{pkg}", trust_env=False, timeout=5)
    owned = httpx.put(f"{url}/v1/policies/owned{pkg}", content=f"package halab.{pkg}\nother := 1\n",
                      trust_env=False, timeout=5)
    assert owned.status_code == 400 and "owned by bundle" in owned.json()["message"]
    etcd.close()
