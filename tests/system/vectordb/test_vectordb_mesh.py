"""system/vectordb: three real node processes in a full mesh (dc1, dc2 and a witness site).

Every node ships its writes to each peer on its own (one cursor and lag per peer), so a
stopped node does not hold back the others; it catches up from its peers when it returns.
Consistency 2 means two copies: the local one and any one peer's.
"""

from __future__ import annotations

import time

import httpx
import pytest
from qdrant_client import models as m
from qdrant_client.http.exceptions import UnexpectedResponse
from vectordb_support import client, create, points, wait_until

pytestmark = pytest.mark.slow


def peer_status(node, other) -> dict:
    return next(p for p in node.status()["peers"] if p["url"] == other.url)


def digest(node) -> dict:
    return httpx.get(node.url + "/replication/digest", timeout=5).json()["collections"]


def test_a_write_on_one_node_reaches_both_others(mesh):
    a, b, c = mesh(3)
    ca = client(a)
    create(ca, "docs")
    t0 = time.monotonic()
    ca.upsert("docs", points=points(0, 50), wait=True)
    seen = {}
    for n in (b, c):
        wait_until(lambda: n.count("docs") == 50, 10, what=f"{n.node_id} to have A's 50 points")
        seen[n.node_id] = (time.monotonic() - t0) * 1000
    # And from the others: each node's writes reach the two other nodes.
    client(b).upsert("docs", points=points(100, 10, "hr"), wait=True)
    client(c).upsert("docs", points=points(200, 10, "ops"), wait=True)
    for n in (a, b, c):
        wait_until(lambda: n.count("docs") == 70, 10, what=f"{n.node_id} to have every node's writes")
    status = wait_until(lambda: (s := a.status())["lag_ops"] == 0 and s, 5, what="no lag on A")
    assert status["peer_reachable"] is True and status["peers_reachable"] == 2
    assert sorted(p["url"] for p in status["peers"]) == sorted([b.url, c.url])
    assert all(p["lag_ops"] == 0 and p["acked_seq"] == status["own_seq"] for p in status["peers"])
    assert {p["origin"].split(":")[0] for p in status["peers"]} == {"n2", "n3"}
    assert digest(a) == digest(b) == digest(c)
    print(f"mesh: A's 50 points visible on B after {seen['n2']:.1f} ms, on C after {seen['n3']:.1f} ms")


@pytest.mark.parametrize("persist", [True, False], ids=["data-dir", "in-memory"])
def test_a_stopped_node_catches_up_from_both_peers(mesh, persist):
    a, b, c = mesh(3, persist=persist, HALAB_VECTORDB_CONSISTENCY_TIMEOUT_S="1")
    ca, cb, cc = client(a), client(b), client(c)
    create(ca, "docs")
    create(ca, "strict", wcf=2)
    cc.upsert("docs", points=points(900, 5, "ops"), wait=True)  # C's own writes, before it dies
    for n in (a, b):
        wait_until(lambda: n.count("docs") == 5, 10, what=f"{n.node_id} to have C's points")
    c_origin = c.status()["origin"]
    c.stop(kill=True)
    ca.upsert("docs", points=points(0, 30), wait=True)
    cb.upsert("docs", points=points(100, 40, "hr"), wait=True)
    cb.delete("docs", points_selector=m.PointIdsList(points=[900]), wait=True)
    # C down does not hold back replication between A and B.
    wait_until(lambda: a.count("docs") == 74 and b.count("docs") == 74, 10, what="A and B to converge")
    # Consistency 2 with one peer down: acknowledged once B (the one reachable peer) applied it.
    t0 = time.monotonic()
    ca.upsert("strict", points=points(0, 10), wait=True)
    strict_ack = (time.monotonic() - t0) * 1000
    assert b.count("strict") == 10  # no polling: the ack promised a second copy
    to_b = wait_until(lambda: (s := peer_status(a, b))["lag_ops"] == 0 and s, 5, what="A's lag to B drained")
    to_c = wait_until(lambda: (s := peer_status(a, c))["reachable"] is False and s, 5, what="A to see C down")
    assert to_b["reachable"] is True and to_c["lag_ops"] >= 2 and to_c["lag_s"] > 0
    assert a.status()["peer_reachable"] is False and a.status()["peers_reachable"] == 1
    t0 = time.monotonic()
    c.start()
    wait_until(lambda: c.count("docs") == 74 and c.count("strict") == 10, 20, what="C to catch up")
    catch_up = time.monotonic() - t0
    for n in (a, b):
        wait_until(lambda: n.status()["lag_ops"] == 0, 5, what=f"{n.node_id}'s lag to drain")
    assert cc.retrieve("docs", ids=[900]) == [] and cc.retrieve("docs", ids=[901])[0].payload["acl_groups"] == ["ops"]
    assert (c.status()["origin"] == c_origin) is persist  # in memory: a new incarnation, refilled
    assert digest(a) == digest(b) == digest(c)
    print(f"mesh catch-up ({'data dir' if persist else 'in memory'}): C had all 84 points {catch_up:.2f} s "
          f"after its restart (process start included); consistency-2 ack with C down {strict_ack:.1f} ms")


def test_consistency_two_fails_only_when_no_peer_applies(mesh):
    a, b, c = mesh(3, HALAB_VECTORDB_CONSISTENCY_TIMEOUT_S="1")
    ca = client(a)
    create(ca, "strict", wcf=2)
    for n in (b, c):
        wait_until(lambda: client(n).collection_exists("strict"), 10, what="the collection everywhere")
    b.stop()
    ca.upsert("strict", points=points(0, 5), wait=True)  # C acks
    c.stop()
    t0 = time.monotonic()
    with pytest.raises(UnexpectedResponse) as exc:
        ca.upsert("strict", points=points(5, 5), wait=True)
    assert exc.value.status_code == 503 and time.monotonic() - t0 >= 0.9
    assert a.count("strict") == 10  # applied locally, as a Qdrant partial write
    b.start()
    wait_until(lambda: b.count("strict") == 10, 15, what="B to catch up")
    ca.upsert("strict", points=points(10, 5), wait=True)
    assert b.count("strict") == 15
    c.start()
    wait_until(lambda: c.count("strict") == 15, 15, what="C to catch up")
