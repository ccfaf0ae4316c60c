"""Each container class starts its component on an internal network and the component works."""

from __future__ import annotations

import json
import urllib.request

import pytest

from harness.containers import (
    BaoContainer,
    EtcdContainer,
    FerretDBContainer,
    HaproxyContainer,
    InternalNetwork,
    OpaContainer,
    PythonServiceContainer,
    ToxiproxyContainer,
)
from harness.images import ImageNotBuilt, ensure_image

pytestmark = pytest.mark.docker


def _http(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=5) as resp:
        return resp.status, resp.read()


@pytest.fixture
def need(docker_client):
    def check(component: str) -> str:
        try:
            return ensure_image(component, docker_client, quick_only=True)
        except ImageNotBuilt as exc:
            pytest.skip(str(exc))

    return check


@pytest.fixture
def net(docker_client, run_id):
    with InternalNetwork(run_id, "test", client=docker_client) as network:
        yield network
    assert not docker_client.networks.list(names=[network.name])


@pytest.fixture(autouse=True)
def nothing_left_behind(docker_client, run_id):
    yield
    left = docker_client.containers.list(all=True, filters={"label": f"halab={run_id}"})
    assert left == [], f"left behind: {[c.name for c in left]}"


def test_network_is_internal_and_labelled(docker_client, net, run_id):
    attrs = docker_client.networks.get(net.name).attrs
    assert attrs["Internal"] is True
    assert attrs["Labels"]["halab"] == run_id


def test_etcd_put_get(need, net, run_id):
    need("etcd")
    import etcd3

    with EtcdContainer(run_id).on_network(net, "etcd1") as etcd:
        assert etcd.client_url.endswith(":2379")
        client = etcd3.client(host=etcd.host, port=2379)
        client.put("/halab/k", "v")
        assert client.get("/halab/k")[0] == b"v"
        assert etcd.health()["health"] == "true"


def test_etcd_three_member_cluster(need, net, run_id):
    need("etcd")
    members = ["etcd1", "etcd2", "etcd3"]
    containers = [
        EtcdContainer(run_id).on_network(net, m).with_initial_cluster(members).with_health_wait(False)
        for m in members
    ]
    try:
        for c in containers[:-1]:
            c.start()
        last = containers[-1].with_health_wait(True).start()  # quorum: /health turns true
        status, body = _http("GET", last.url("/health"))
        assert json.loads(body)["health"] == "true"
        status, body = _http("POST", last.url("/v3/cluster/member/list"), b"{}")
        assert len(json.loads(body)["members"]) == 3
    finally:
        for c in containers:
            c.stop()


def test_opa_loads_a_policy_and_decides(need, net, run_id):
    need("opa")
    with OpaContainer(run_id).on_network(net, "opa") as opa:
        rego = b"package halab.authz\n\nallow if input.user == \"alice\"\n"
        status, _ = _http("PUT", f"{opa.api_url}/v1/policies/authz", rego, {"Content-Type": "text/plain"})
        assert status == 200
        _, body = _http("POST", f"{opa.api_url}/v1/data/halab/authz/allow", json.dumps({"input": {"user": "alice"}}).encode())
        assert json.loads(body)["result"] is True


def test_bao_dev_mode_kv(need, net, run_id):
    need("vault")
    import hvac

    with BaoContainer(run_id).with_dev_mode(root_token="t0k").on_network(net, "vault") as bao:
        client = hvac.Client(url=bao.api_url, token=bao.root_token)
        client.secrets.kv.v2.create_or_update_secret(path="llm", secret={"key": "sk-test"})
        assert client.secrets.kv.v2.read_secret_version(path="llm")["data"]["data"]["key"] == "sk-test"


def test_bao_raft_node_initialises_and_unseals(need, net, run_id):
    need("vault")
    import hvac

    with BaoContainer(run_id).with_raft("bao1").on_network(net, "bao1") as bao:
        client = hvac.Client(url=bao.api_url)
        assert not client.sys.is_initialized()
        keys = client.sys.initialize(secret_shares=1, secret_threshold=1)
        client.sys.submit_unseal_key(keys["keys"][0])
        assert not client.sys.is_sealed()


def test_ferretdb_insert_find(need, net, run_id):
    need("mongo")
    import pymongo

    with FerretDBContainer(run_id).on_network(net, "mongo") as mongo:
        client = pymongo.MongoClient(mongo.mongo_url, serverSelectionTimeoutMS=3000)
        client.halab.docs.insert_one({"_id": "d1", "title": "policy"})
        assert client.halab.docs.find_one({"_id": "d1"})["title"] == "policy"
        client.close()


def test_toxiproxy_forwards_to_another_container(need, net, run_id):
    need("toxiproxy")
    need("opa")
    with OpaContainer(run_id).on_network(net, "opa"), ToxiproxyContainer(run_id).on_network(net, "wan") as wan:
        wan.create_proxy("to-opa", listen="0.0.0.0:28181", upstream="opa:8181")
        status, _ = _http("GET", wan.url("/health", port=28181))
        assert status == 200


def test_haproxy_balances_to_a_backend(need, net, run_id):
    need("lb")
    need("opa")
    config = (
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n"
        "frontend users\n    bind *:80\n    default_backend apps\n"
        "backend apps\n    server opa1 opa:8181 check inter 1s\n"
    )
    with OpaContainer(run_id).on_network(net, "opa"):
        with HaproxyContainer(run_id).with_config(config).on_network(net, "lb") as lb:
            status, _ = _http("GET", lb.url("/health", port=80))
            assert status == 200


def test_python_service_healthz(need, net, run_id):
    need("llm_stub")
    with PythonServiceContainer(run_id, "llm_stub").on_network(net, "llm") as svc:
        status, _ = _http("GET", svc.url("/healthz"))
        assert status == 200


def test_a_container_that_exits_fails_fast_and_is_removed(need, net, run_id, docker_client):
    need("etcd")
    from harness.containers import ContainerNotReady

    bad = EtcdContainer(run_id).on_network(net, "etcd-bad").with_args("--no-such-flag")
    with pytest.raises(ContainerNotReady, match="exited"):
        with bad:
            pass
