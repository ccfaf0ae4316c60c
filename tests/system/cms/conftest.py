"""Fixtures of the CMS tests: fakes for unit tests, and a real stack for the docker tests.

The docker stack: etcd, OPA and FerretDB as labelled containers on one internal network
(the host reaches them at their addresses); policy_sync and the CMS run in this process,
each under its own uvicorn thread on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn

from system.cms.settings import CmsSettings

ADMIN = "alice"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """An ASGI app under uvicorn in a thread, on 127.0.0.1:<free port>; a context manager."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Stack:
    etcd: object
    opa: object
    mongo: object
    etcd_endpoint: str
    opa_url: str
    mongo_url: str
    cms_url: str
    psync_url: str
    settings: CmsSettings
    sync: object
    _clients: list = field(default_factory=list)

    def cms(self, user: str | None = ADMIN, timeout: float = 30.0) -> httpx.Client:
        headers = {"X-Consumer-Username": user} if user else {}
        c = httpx.Client(base_url=self.cms_url, headers=headers, timeout=timeout, trust_env=False)
        self._clients.append(c)
        return c

    def etcd_client(self):
        from system.common.etcd import connect

        return connect(self.etcd_endpoint, timeout=5)

    def mongo_db(self):
        import pymongo

        c = pymongo.MongoClient(self.mongo_url, serverSelectionTimeoutMS=3000, tz_aware=True)
        self._clients.append(c)
        return c[self.settings.mongo_db]

    def opa_data(self, path: str, input: dict | None = None):
        r = httpx.post(f"{self.opa_url}/v1/data/{path}", json={"input": input or {}}, trust_env=False, timeout=5)
        r.raise_for_status()
        return r.json().get("result")

    def close(self) -> None:
        for c in self._clients:
            c.close()


def uid(prefix: str = "p") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def stack(docker_client, run_id):
    """etcd + OPA + FerretDB containers, policy_sync and the CMS in-process."""
    from harness.containers import EtcdContainer, FerretDBContainer, InternalNetwork, OpaContainer
    from system.cms.api import build_app
    from system.policy_sync.opa import OpaPolicies
    from system.policy_sync.source import EtcdSource
    from system.policy_sync.syncer import PolicySync
    from system.policy_sync.app import build_app as build_sync_app

    with ExitStack() as es:
        net = es.enter_context(InternalNetwork(run_id, "cms"))
        etcd = es.enter_context(EtcdContainer(run_id).on_network(net, "etcd"))
        opa = es.enter_context(OpaContainer(run_id).on_network(net, "opa"))
        mongo = es.enter_context(FerretDBContainer(run_id).on_network(net, "mongo"))
        endpoint = f"{etcd.address()}:2379"
        opa_url = opa.api_url
        sync = PolicySync(lambda: EtcdSource(endpoint, timeout=2.0), OpaPolicies(opa_url),
                          heartbeat_s=0.5, verify_interval_s=2.0, backoff_min_s=0.1, backoff_max_s=1.0)
        psync = es.enter_context(ServerThread(build_sync_app(sync=sync)))
        settings = CmsSettings(etcd_endpoint=endpoint, mongo_url=mongo.mongo_url, opa_url=opa_url,
                               policy_sync_url=psync.url, etcd_timeout_s=2.0, mongo_timeout_ms=2000,
                               reconcile_interval_s=0.5, pending_grace_s=3.0, enforce_timeout_s=5.0,
                               max_body_bytes=64 * 1024)
        cms = es.enter_context(ServerThread(build_app(settings)))
        st = Stack(etcd, opa, mongo, endpoint, opa_url, mongo.mongo_url, cms.url, psync.url, settings, sync)
        es.callback(st.close)
        yield st
