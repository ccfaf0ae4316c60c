"""How the container classes configure their components (nothing is started)."""

from __future__ import annotations

import pytest

from harness.containers import BaoContainer, EtcdContainer, HaproxyContainer, OpaContainer, PythonServiceContainer
from harness.containers.haproxy import MONITOR_PORT
from harness.labels import LABEL

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def _engine(docker_client):
    # testcontainers asks the engine for its API version when a container object is made.
    return docker_client


def flags(container) -> dict[str, str]:
    container._configure()
    return dict(arg.split("=", 1) for arg in container._command if arg.startswith("--") and "=" in arg)


def test_etcd_member_advertises_its_alias():
    etcd = EtcdContainer("r1", "img").on_network("dc1", "etcd1")
    f = flags(etcd)
    assert f["--name"] == "etcd1"
    assert f["--advertise-client-urls"] == "http://etcd1:2379"
    assert f["--initial-cluster"] == "etcd1=http://etcd1:2380"


def test_etcd_cluster_members_share_one_initial_cluster():
    members = ["etcd1", "etcd2", "etcd3"]
    f = flags(EtcdContainer("r1", "img").on_network("dc2", "etcd2").with_initial_cluster(members))
    assert f["--initial-cluster"] == "etcd1=http://etcd1:2380,etcd2=http://etcd2:2380,etcd3=http://etcd3:2380"
    assert f["--initial-cluster-token"] == "halab-r1"


def test_opa_always_disables_telemetry():
    opa = OpaContainer("r1", "img")
    opa._configure()
    assert "--disable-telemetry" in opa._command


def test_bao_raft_config_names_the_node():
    bao = BaoContainer("r1", "img").with_raft("bao2")
    hcl = bao.config_hcl()
    assert 'node_id = "bao2"' in hcl and 'api_addr = "http://bao2:8200"' in hcl and "disable_mlock = true" in hcl


def test_haproxy_config_gets_the_monitor_frontend():
    lb = HaproxyContainer("r1", "img").with_config("defaults\n    mode http\n")
    assert f"bind *:{MONITOR_PORT}" in lb.full_config and "monitor-uri /healthz" in lb.full_config
    assert "NET_ADMIN" in HaproxyContainer("r1", "img").with_keepalived("vrrp_instance x {}")._extra_kwargs["cap_add"]


def test_every_container_is_labelled_with_run_and_component():
    svc = PythonServiceContainer("r1", "cms", "img", site="dc1")
    assert svc._labels == {LABEL: "r1", f"{LABEL}.component": "cms", f"{LABEL}.site": "dc1"}
    svc._configure()
    assert svc._command == ["python", "-m", "system.cms"]
