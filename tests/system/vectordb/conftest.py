"""Fixtures of the vectordb tests: a node (process, container, or official Qdrant), pairs."""

from __future__ import annotations

import uuid

import httpx
import pytest
from vectordb_support import HostToxiproxy, NodeProcess, free_port

from harness.kinds import KINDS

OFFICIAL_IMAGE = KINDS["vectordb"].official


@pytest.fixture
def collection() -> str:
    return f"c_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def halab_node():
    node = NodeProcess("solo").start()
    yield node
    node.stop()


def _official_qdrant(request):
    """The official image on an internal network, when it is present. Tests never pull: that
    would send traffic off the machine; pull it by hand where a registry is reachable."""
    docker_client = request.getfixturevalue("docker_client")
    run_id = request.getfixturevalue("run_id")
    import docker.errors

    try:
        docker_client.images.get(OFFICIAL_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"official image {OFFICIAL_IMAGE} is not present (no registry here; "
                    f"`docker pull {OFFICIAL_IMAGE}` where one is reachable)")
    from harness.containers import InternalNetwork
    from harness.containers.base import HalabContainer, http_ok

    class QdrantContainer(HalabContainer):
        component = "vectordb"
        port = 6333

        def _probe(self) -> bool:
            return http_ok(self.url("/readyz"))

    net = InternalNetwork(run_id, "vdb").create()
    c = QdrantContainer(run_id, OFFICIAL_IMAGE).with_env("QDRANT__TELEMETRY_DISABLED", "true").on_network(net, "qdrant")
    c.start()
    request.addfinalizer(net.remove)
    request.addfinalizer(c.stop)
    return c.url()


def _halab_container(request):
    """system.vectordb in the python image (PythonServiceContainer) on an internal network."""
    docker_client = request.getfixturevalue("docker_client")  # noqa: F841 - skips without an engine
    run_id = request.getfixturevalue("run_id")
    from harness.containers import InternalNetwork, PythonServiceContainer
    from harness.images import ImageNotBuilt, ensure_image

    try:
        image = ensure_image("vectordb", quick_only=True)
    except ImageNotBuilt as exc:
        pytest.skip(str(exc))
    net = InternalNetwork(run_id, "vdb").create()
    c = (PythonServiceContainer(run_id, "vectordb", image).with_env("HALAB_VECTORDB_NODE_ID", "ctr")
         .with_env("HALAB_VECTORDB_LOG_LEVEL", "warning").on_network(net, "vectordb"))
    c.start()
    request.addfinalizer(net.remove)
    request.addfinalizer(c.stop)
    return c.url()


@pytest.fixture(params=["halab-process", pytest.param("halab-container", marks=pytest.mark.docker),
                        pytest.param("official-qdrant", marks=pytest.mark.docker)])
def qdrant_url(request) -> str:
    """The same contract against our node (as a process and in its container) and real Qdrant."""
    if request.param == "halab-process":
        return request.getfixturevalue("halab_node").url
    if request.param == "halab-container":
        return _halab_container(request)
    return _official_qdrant(request)


@pytest.fixture
def qdrant(qdrant_url):
    from qdrant_client import QdrantClient

    client = QdrantClient(url=qdrant_url, timeout=10, prefer_grpc=False, check_compatibility=False)
    yield client
    client.close()


@pytest.fixture
def http(qdrant_url):
    with httpx.Client(base_url=qdrant_url, timeout=10) as c:
        yield c


@pytest.fixture
def pair(tmp_path):
    """start(**opts) -> (a, b): two nodes replicating to each other, stopped at the end."""
    nodes: list[NodeProcess] = []

    def start(persist: bool = True, **env: str):
        pa, pb = free_port(), free_port()
        a = NodeProcess("dc1", pa, f"http://127.0.0.1:{pb}", tmp_path / "a" if persist else None, **env)
        b = NodeProcess("dc2", pb, f"http://127.0.0.1:{pa}", tmp_path / "b" if persist else None, **env)
        nodes.extend([a, b])
        a.start(wait=False)
        b.start(wait=False)
        a.wait_healthy()
        b.wait_healthy()
        return a, b

    yield start
    for n in nodes:
        n.stop()


@pytest.fixture
def mesh(tmp_path):
    """start(n, persist=True, **env) -> nodes: n nodes, each with every other as a peer (full mesh)."""
    nodes: list[NodeProcess] = []

    def start(n: int = 3, persist: bool = True, **env: str):
        ports = [free_port() for _ in range(n)]
        started = [NodeProcess(f"n{i + 1}", port, [f"http://127.0.0.1:{q}" for q in ports if q != port],
                               tmp_path / f"n{i + 1}" if persist else None, **env) for i, port in enumerate(ports)]
        nodes.extend(started)
        for node in started:
            node.start(wait=False)
        for node in started:
            node.wait_healthy()
        return started

    yield start
    for n in nodes:
        n.stop()


@pytest.fixture
def toxiproxy():
    if not HostToxiproxy.available():
        pytest.skip("no toxiproxy server binary: set HALAB_TOXIPROXY_BIN or run `halab images build toxiproxy`")
    proxy = HostToxiproxy().start()
    yield proxy
    proxy.stop()
