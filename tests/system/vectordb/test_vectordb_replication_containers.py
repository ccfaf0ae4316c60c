"""system/vectordb across two DCs as the lab deploys it: each node in its container on its
site's internal network, the only path between them a multi-homed Toxiproxy (the WAN).

    dc1: vectordb (alias vectordb1) ──> "vectordb2" = toxiproxy ──> vectordb node of dc2
    dc2: vectordb (alias vectordb2) ──> "vectordb1" = toxiproxy ──> vectordb node of dc1
"""

from __future__ import annotations

import random

import httpx
import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m
from vectordb_support import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]
PORT = 8000
DIM = 8


@pytest.fixture
def wan_pair(docker_client, run_id):
    from harness.containers import InternalNetwork, PythonServiceContainer, ToxiproxyContainer
    from harness.images import ImageNotBuilt, ensure_image

    try:
        image = ensure_image("vectordb", client=docker_client, quick_only=True)
        proxy_image = ensure_image("toxiproxy", client=docker_client, quick_only=True)
    except ImageNotBuilt as exc:
        pytest.skip(str(exc))
    with InternalNetwork(run_id, "dc1") as dc1, InternalNetwork(run_id, "dc2") as dc2:
        wan = ToxiproxyContainer(run_id, proxy_image).on_network(dc1, "vectordb2").on_network(dc2, "vectordb1")
        nodes = []
        for site, net, alias, peer in (("dc1", dc1, "vectordb1", "vectordb2"), ("dc2", dc2, "vectordb2", "vectordb1")):
            nodes.append(PythonServiceContainer(run_id, "vectordb", image, site=site)
                         .with_env("HALAB_VECTORDB_NODE_ID", site).with_env("HALAB_VECTORDB_PEERS", f"http://{peer}:{PORT}")
                         .with_env("HALAB_VECTORDB_HEARTBEAT_S", "0.2").with_env("HALAB_VECTORDB_RETRY_MAX_S", "0.5")
                         .with_env("HALAB_VECTORDB_LOG_LEVEL", "warning").on_network(net, alias))
        with wan:
            with nodes[0] as n1, nodes[1] as n2:
                # Upstreams are the real containers' unique names, never an alias the proxy holds itself.
                wan.create_proxy("to-vectordb2", f"{wan.address(dc1)}:{PORT}", f"{n2.name}:{PORT}")
                wan.create_proxy("to-vectordb1", f"{wan.address(dc2)}:{PORT}", f"{n1.name}:{PORT}")
                yield n1, n2, wan


def set_link(wan, enabled: bool) -> None:
    for name in ("to-vectordb2", "to-vectordb1"):
        httpx.post(wan.url(f"/proxies/{name}"), json={"enabled": enabled}, timeout=5).raise_for_status()


def status(node) -> dict:
    return httpx.get(node.url("/replication"), timeout=5).json()


def count(node, collection="docs") -> int:
    r = httpx.post(node.url(f"/collections/{collection}/points/count"), json={"exact": True}, timeout=5)
    return r.json()["result"]["count"] if r.status_code == 200 else -1


def pts(start, n, group):
    return [m.PointStruct(id=i, vector=[random.Random(i * 10 + k).random() for k in range(DIM)],
                          payload={"doc_id": f"doc-{i}", "acl_groups": [group]}) for i in range(start, start + n)]


def test_replication_across_the_wan_cut_and_heal(wan_pair):
    n1, n2, wan = wan_pair
    c1 = QdrantClient(url=n1.url(), timeout=15, check_compatibility=False)
    c2 = QdrantClient(url=n2.url(), timeout=15, check_compatibility=False)
    c1.create_collection("docs", vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE))
    c1.upsert("docs", points=pts(0, 20, "eng"), wait=True)
    wait_until(lambda: count(n2) == 20, 20, what="dc2 to receive dc1's writes through the WAN proxy")
    assert status(n1)["peer_reachable"] and status(n2)["peer_reachable"]

    set_link(wan, False)
    c1.upsert("docs", points=pts(100, 10, "eng"), wait=True)
    c2.upsert("docs", points=pts(200, 15, "hr"), wait=True)
    assert count(n1) == 30 and count(n2) == 35  # each DC keeps serving its own reads and writes
    wait_until(lambda: not status(n1)["peer_reachable"] and not status(n2)["peer_reachable"], 10,
               what="both nodes to see the cut")
    assert status(n1)["lag_ops"] == 1 and status(n2)["lag_ops"] == 1

    set_link(wan, True)
    wait_until(lambda: count(n1) == 45 and count(n2) == 45, 20, what="convergence after the WAN heals")
    hr = m.Filter(must=[m.FieldCondition(key="acl_groups", match=m.MatchAny(any=["hr"]))])
    assert c1.count("docs", count_filter=hr).count == 15
    wait_until(lambda: status(n1)["lag_ops"] == 0 and status(n2)["lag_ops"] == 0, 10, what="no lag")


def test_restarted_container_is_refilled_by_its_peer(wan_pair):
    n1, n2, _ = wan_pair
    c1 = QdrantClient(url=n1.url(), timeout=15, check_compatibility=False)
    c1.create_collection("docs", vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE))
    c1.upsert("docs", points=pts(0, 30, "eng"), wait=True)
    wait_until(lambda: count(n2) == 30, 20, what="first replication")
    container = n2.get_wrapped_container()
    container.stop(timeout=2)  # in-memory node: its state is gone
    c1.upsert("docs", points=pts(30, 10, "eng"), wait=True)
    container.start()
    wait_until(lambda: count(n2) == 40, 30, 0.1, what="the restarted node to be refilled")
