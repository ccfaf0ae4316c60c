"""Fixtures of the policy_sync docker tests: real etcd and OPA containers, the sync in-process."""

from __future__ import annotations

from contextlib import ExitStack

import httpx
import pytest


class SyncStack:
    def __init__(self, etcd, opa) -> None:
        self.etcd = etcd
        self.opa = opa
        self.endpoint = f"{etcd.address()}:2379"
        self.opa_url = opa.api_url

    def etcd_client(self):
        from system.common.etcd import connect

        return connect(self.endpoint, timeout=5)

    def opa_policies(self) -> dict[str, str]:
        r = httpx.get(f"{self.opa_url}/v1/policies", trust_env=False, timeout=5)
        r.raise_for_status()
        return {p["id"]: p["raw"] for p in r.json()["result"]}

    def decide(self, path: str, input: dict | None = None):
        r = httpx.post(f"{self.opa_url}/v1/data/{path}", json={"input": input or {}}, trust_env=False, timeout=5)
        r.raise_for_status()
        return r.json().get("result")

    def new_sync(self, source_factory=None):
        from system.policy_sync.opa import OpaPolicies
        from system.policy_sync.source import EtcdSource
        from system.policy_sync.syncer import PolicySync

        factory = source_factory or (lambda: EtcdSource(self.endpoint, timeout=1.0))
        return PolicySync(factory, OpaPolicies(self.opa_url), heartbeat_s=0.3, verify_interval_s=1.0,
                          backoff_min_s=0.1, backoff_max_s=0.5)


@pytest.fixture(scope="module")
def sync_stack(docker_client, run_id):
    from harness.containers import EtcdContainer, InternalNetwork, OpaContainer

    with ExitStack() as es:
        net = es.enter_context(InternalNetwork(run_id, "psync"))
        etcd = es.enter_context(EtcdContainer(run_id).on_network(net, "etcd"))
        opa = es.enter_context(OpaContainer(run_id).on_network(net, "opa"))
        yield SyncStack(etcd, opa)
