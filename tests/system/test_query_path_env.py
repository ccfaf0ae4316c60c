"""The one-DC query path for the container tests and the benchmark (no tests here).

Infrastructure runs as real, labelled containers on an internal network: etcd, OpenBao
(dev mode), OPA, FerretDB. The platform's Python services run as host subprocesses on
127.0.0.1 pointed at the containers' bridge addresses: llm_stub, vectordb, gateway, rag. Their logs
go to a temporary directory, removed at the end unless HALAB_KEEP_LOGS is set.

    with QueryPath(run_id) as qp:
        qp.user_post("/rag/query", "alice", {"question": "..."})
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import time
from pathlib import Path

import httpx

from harness.containers import BaoContainer, EtcdContainer, FerretDBContainer, InternalNetwork, OpaContainer
from harness.process import ServiceProcess, free_port
from system.gateway.seed import DEFAULT_AUTHZ_REGO, ConsumerSpec, default_routes, seed
from system.vault.setup import bootstrap_gateway

USERS = [
    {"_id": "alice", "name": "Alice", "groups": ["eng"], "role": "user"},
    {"_id": "bob", "name": "Bob", "groups": ["sales"], "role": "user"},
    {"_id": "erin", "name": "Erin", "groups": ["eng", "editors"], "role": "user"},
    {"_id": "root", "name": "Root", "groups": ["admins"], "role": "admin"},
]


class QueryPath:
    def __init__(self, run_id: str, *, secret_ttl_s: float = 2.0, secret_max_stale_s: float = 5.0,
                 llm_timeout_ms: int = 5000, stub_zero_latency: bool = True):
        self.run_id = run_id
        self.secret_ttl_s = secret_ttl_s
        self.secret_max_stale_s = secret_max_stale_s
        self.llm_timeout_ms = llm_timeout_ms
        self.stub_zero_latency = stub_zero_latency
        self.llm_key = "sk-" + secrets.token_hex(16)
        self.admin_token = secrets.token_hex(8)
        self.admin_key = secrets.token_hex(16)  # the gateway Admin API's X-API-KEY
        self.identity_key = secrets.token_hex(16)  # the gateway signs X-Consumer-* with it, RAG checks
        self.keys = {u["_id"]: "key-" + secrets.token_hex(8) for u in USERS}
        self.keys["rag-service"] = "key-" + secrets.token_hex(8)
        self.containers: list = []
        self.services: dict[str, ServiceProcess] = {}
        self.logdir = Path(tempfile.mkdtemp(prefix="halab-querypath-"))
        self.http = httpx.Client(timeout=30, trust_env=False)

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> QueryPath:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        self.net = InternalNetwork(self.run_id, "dc1").create()
        self.etcd = self._container(EtcdContainer(self.run_id, site="dc1").on_network(self.net, "etcd1"))
        self.bao = self._container(BaoContainer(self.run_id, site="dc1").with_dev_mode(secrets.token_hex(12))
                                   .on_network(self.net, "vault1"))
        self.opa = self._container(OpaContainer(self.run_id, site="dc1").with_log_level("error").on_network(self.net, "opa1"))
        self.mongo = self._container(FerretDBContainer(self.run_id, site="dc1").with_log_level("error")
                                     .on_network(self.net, "mongo"))
        creds = bootstrap_gateway(self.bao.api_url, self.bao.root_token, self.llm_key)
        self.put_policy(DEFAULT_AUTHZ_REGO)
        import pymongo

        with pymongo.MongoClient(self.mongo.mongo_url, serverSelectionTimeoutMS=5000) as mc:
            for u in USERS:
                mc.halab.users.replace_one({"_id": u["_id"]}, u, upsert=True)

        ports = {n: free_port() for n in ("llm_stub", "vectordb", "gateway", "rag")}
        self.gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        admin_port = free_port()
        self.admin_url = f"http://127.0.0.1:{admin_port}"
        svc = {
            "llm_stub": {"HALAB_LLM_STUB_PORT": ports["llm_stub"], "HALAB_LLM_STUB_API_KEY": self.llm_key,
                         "HALAB_LLM_STUB_ADMIN_TOKEN": self.admin_token, "HALAB_LLM_STUB_KEY_GRACE_S": "60",
                         "HALAB_LLM_STUB_ZERO_LATENCY": str(self.stub_zero_latency).lower(),
                         "HALAB_LLM_STUB_LOG_LEVEL": "warning"},
            "vectordb": {"HALAB_VECTORDB_PORT": ports["vectordb"], "HALAB_VECTORDB_LOG_LEVEL": "warning"},
            "gateway": {"HALAB_GATEWAY_PORT": ports["gateway"], "HALAB_GATEWAY_HOST": "127.0.0.1",
                        "HALAB_GATEWAY_ETCD_ENDPOINT": self.etcd.client_url,
                        "HALAB_GATEWAY_VAULT_ADDR": self.bao.api_url, **creds.env(),
                        "HALAB_GATEWAY_SECRET_TTL_S": self.secret_ttl_s,
                        "HALAB_GATEWAY_SECRET_MAX_STALE_S": self.secret_max_stale_s,
                        "HALAB_GATEWAY_ADMIN_PORT": admin_port, "HALAB_GATEWAY_ADMIN_KEY": self.admin_key,
                        "HALAB_GATEWAY_IDENTITY_KEY": self.identity_key, "HALAB_GATEWAY_LOG_LEVEL": "warning"},
            "rag": {"HALAB_RAG_PORT": ports["rag"], "HALAB_RAG_HOST": "127.0.0.1", "HALAB_RAG_MONGO_URL": self.mongo.mongo_url,
                    "HALAB_RAG_VECTOR_URL_LOCAL": f"http://127.0.0.1:{ports['vectordb']}",
                    "HALAB_RAG_GATEWAY_URL_LOCAL": self.gateway_url,
                    "HALAB_RAG_GATEWAY_API_KEY": self.keys["rag-service"], "HALAB_RAG_LOG_LEVEL": "warning",
                    "HALAB_RAG_IDENTITY_KEY": self.identity_key},
        }
        for name, env in svc.items():
            self.services[name] = ServiceProcess(name, {k: str(v) for k, v in env.items()}, ports[name],
                                                 self.logdir).start(wait=False)
        for s in self.services.values():
            s.wait_healthy()
        self.routes = default_routes(rag_nodes=[f"127.0.0.1:{ports['rag']}"], cms_nodes=["127.0.0.1:9"],
                                     llm_endpoint=self.services["llm_stub"].url, opa_url=self.opa.api_url,
                                     vault_addr=self.bao.api_url, llm_timeout_ms=self.llm_timeout_ms)
        consumers = [ConsumerSpec(u["_id"], self.keys[u["_id"]], tuple(u["groups"]), u["role"]) for u in USERS]
        consumers.append(ConsumerSpec("rag-service", self.keys["rag-service"], ("service",), "service"))
        self.seed_revision = seed(self.etcd.client_url, self.routes, consumers)
        self.wait_gateway_revision(self.seed_revision)

    def _container(self, c):
        self.containers.append(c)
        return c.start()

    def close(self) -> None:
        for s in self.services.values():
            s.stop()
        for c in reversed(self.containers):
            try:
                c.stop()
            except Exception:  # noqa: BLE001 - teardown goes on
                pass
        if getattr(self, "net", None) is not None:
            self.net.remove()
        self.http.close()
        if not os.environ.get("HALAB_KEEP_LOGS"):
            import shutil

            shutil.rmtree(self.logdir, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------

    def put_policy(self, rego: str, policy_id: str = "authz") -> None:
        """The policy into OPA as policy_sync would put it, with the default documents it reads."""
        from system.policies import DEFAULT_DOCUMENTS
        from system.policy_sync.opa import DATA_ROOT

        for doc_id, data in DEFAULT_DOCUMENTS.items():
            httpx.put(f"{self.opa.api_url}/v1/data/{DATA_ROOT}/{doc_id}", json=data, trust_env=False,
                      timeout=10).raise_for_status()
        r = httpx.put(f"{self.opa.api_url}/v1/policies/{policy_id}", content=rego.encode(),
                      headers={"Content-Type": "text/plain"}, trust_env=False, timeout=10)
        r.raise_for_status()

    def gateway_status(self) -> dict:
        return self.http.get(self.gateway_url + "/gateway/status").json()

    def wait_gateway_revision(self, revision: int, timeout: float = 10.0) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                if self.gateway_status()["revision"] >= revision:
                    return time.monotonic() - t0
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.01)
        raise AssertionError(f"gateway did not reach etcd revision {revision}: {self.gateway_status()}")

    def user_post(self, path: str, user: str, body, **kw) -> httpx.Response:
        return self.http.post(self.gateway_url + path, json=body, headers={"apikey": self.keys[user], **kw.pop("headers", {})}, **kw)

    def chat(self, user: str = "rag-service", content: str = "hello") -> httpx.Response:
        return self.user_post("/llm/chat", user, {"messages": [{"role": "user", "content": content}]})

    def stub_admin(self, method: str, path: str, body=None) -> httpx.Response:
        return self.http.request(method, self.services["llm_stub"].url + path, json=body,
                                 headers={"X-Admin-Token": self.admin_token})

    @contextlib.contextmanager
    def apisix_restored(self):
        """The /apisix prefix as it was on entry, put back on exit (a fuzzer's routes gone)."""
        from system.common.etcd import connect

        c = connect(self.etcd.client_url)
        try:
            before = {meta.key: value for value, meta in c.get_prefix("/apisix")}
            yield
            c.delete_prefix("/apisix")
            for key, value in before.items():
                c.put(key, value)
            self.wait_gateway_revision(int(c.get_prefix_response("/apisix", keys_only=True).header.revision))
        finally:
            c.close()

    def etcd_put(self, key: str, value: dict) -> int:
        from system.common.etcd import connect

        c = connect(self.etcd.client_url)
        try:
            c.put(key, json.dumps(value))
            return int(c.get_prefix_response("/apisix", keys_only=True).header.revision)
        finally:
            c.close()
