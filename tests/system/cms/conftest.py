"""Fixtures of the CMS tests: a real stack for the docker tests (fakes live in cms_fakes.py).

The docker stack: etcd, OPA and FerretDB as labelled containers on one internal network
(the host reaches them at their addresses); policy_sync and the CMS run in this process,
each under its own uvicorn thread on 127.0.0.1.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from cms_stack import IDENTITY_KEY, ServerThread, Stack

from system.cms.settings import CmsSettings


@pytest.fixture(scope="module")
def stack(docker_client, run_id):
    """etcd + OPA + FerretDB containers, policy_sync and the CMS in-process."""
    from harness.containers import EtcdContainer, FerretDBContainer, InternalNetwork, OpaContainer
    from system.cms.api import build_app
    from system.policy_sync.app import build_app as build_sync_app
    from system.policy_sync.opa import OpaRouted
    from system.policy_sync.source import EtcdSource
    from system.policy_sync.syncer import PolicySync

    with ExitStack() as es:
        net = es.enter_context(InternalNetwork(run_id, "cms"))
        etcd = es.enter_context(EtcdContainer(run_id).on_network(net, "etcd"))
        opa = es.enter_context(OpaContainer(run_id).on_network(net, "opa"))
        mongo = es.enter_context(FerretDBContainer(run_id).on_network(net, "mongo"))
        endpoint = f"{etcd.address()}:2379"
        opa_url = opa.api_url
        sync = PolicySync(lambda: EtcdSource(endpoint, timeout=2.0), OpaRouted(opa_url),
                          heartbeat_s=0.5, verify_interval_s=2.0, backoff_min_s=0.1, backoff_max_s=1.0)
        psync = es.enter_context(ServerThread(build_sync_app(sync=sync)))
        settings = CmsSettings(etcd_endpoint=endpoint, mongo_url=mongo.mongo_url, opa_url=opa_url,
                               policy_sync_url=psync.url, identity_key=IDENTITY_KEY, etcd_timeout_s=2.0, mongo_timeout_ms=2000,
                               reconcile_interval_s=0.5, pending_grace_s=3.0, enforce_timeout_s=5.0,
                               max_body_bytes=64 * 1024)
        cms = es.enter_context(ServerThread(build_app(settings)))
        st = Stack(etcd, opa, mongo, endpoint, opa_url, mongo.mongo_url, cms.url, psync.url, settings, sync)
        es.callback(st.close)
        yield st
