"""system/vectordb: two real node processes replicating (DC1 <-> DC2).

A write accepted by one node shows up on the other; write consistency 2 acknowledges only
after the peer applied it; a node that was stopped or cut off (Toxiproxy between the two)
catches up on reconnect; reads never wait for the peer.
"""

from __future__ import annotations

import time

import httpx
import pytest
from qdrant_client import models as m
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
from vectordb_support import DIM, NodeProcess, client, create, free_port, points, wait_until

pytestmark = pytest.mark.slow


def test_write_on_a_is_visible_on_b_and_back(pair):
    a, b = pair()
    ca, cb = client(a), client(b)
    create(ca, "docs")
    t0 = time.monotonic()
    ca.upsert("docs", points=points(0, 50), wait=True)
    wait_until(lambda: b.count("docs") == 50, 10, what="B to have A's 50 points")
    lag = time.monotonic() - t0
    hits_b = cb.query_points("docs", query=[1.0] * DIM, limit=5, query_filter=m.Filter(
        must=[m.FieldCondition(key="acl_groups", match=m.MatchAny(any=["eng"]))])).points
    hits_a = ca.query_points("docs", query=[1.0] * DIM, limit=5, query_filter=m.Filter(
        must=[m.FieldCondition(key="acl_groups", match=m.MatchAny(any=["eng"]))])).points
    assert [p.id for p in hits_a] == [p.id for p in hits_b]
    # And the other way: a write on B reaches A; a delete too.
    cb.upsert("docs", points=points(100, 10, "hr"), wait=True)
    cb.delete("docs", points_selector=m.PointIdsList(points=[0, 1]), wait=True)
    wait_until(lambda: a.count("docs") == 58, 10, what="A to have B's writes")
    assert ca.retrieve("docs", ids=[105])[0].payload["acl_groups"] == ["hr"]
    status = wait_until(lambda: (s := a.status())["lag_ops"] == 0 and s, 5, what="no lag on A")
    assert status["peer_reachable"] is True and status["peers"][0]["origin"].startswith("dc2:")
    print(f"replication: 50 points visible on B {lag * 1000:.1f} ms after the ack on A; "
          f"B apply delay p50 {b.status()['apply_delay_ms']['p50']} ms")


def test_consistency_two_acks_after_the_peer_applied(pair):
    a, b = pair()
    ca = client(a)
    create(ca, "strict", wcf=2)
    assert ca.get_collection("strict").config.params.write_consistency_factor == 2
    for batch in range(5):
        ca.upsert("strict", points=points(batch * 10, 10), wait=True)
        # No polling: the ack promised the peer has it.
        assert b.count("strict") == (batch + 1) * 10


def test_consistency_two_fails_while_the_peer_is_down_then_heals(pair):
    a, b = pair(HALAB_VECTORDB_CONSISTENCY_TIMEOUT_S="1")
    ca = client(a)
    create(ca, "strict", wcf=2)
    b.stop()
    t0 = time.monotonic()
    with pytest.raises(UnexpectedResponse) as exc:
        ca.upsert("strict", points=points(0, 5), wait=True)
    assert exc.value.status_code == 503 and time.monotonic() - t0 >= 0.9
    # Applied locally (like Qdrant's partial write), and reads on A do not wait for B.
    t0 = time.monotonic()
    assert a.count("strict") == 5
    assert time.monotonic() - t0 < 0.5
    status = a.status()
    assert status["peer_reachable"] is False and status["lag_ops"] >= 1
    b.start()
    wait_until(lambda: b.count("strict") == 5, 15, what="B to catch up")
    ca.upsert("strict", points=points(5, 5), wait=True)
    assert b.count("strict") == 10


@pytest.mark.parametrize("persist", [True, False], ids=["data-dir", "in-memory"])
def test_stopped_node_catches_up_after_restart(pair, persist):
    a, b = pair(persist=persist)
    ca, cb = client(a), client(b)
    create(ca, "docs")
    wait_until(lambda: cb.collection_exists("docs"), 10, what="the collection to reach B")
    cb.upsert("docs", points=points(1000, 20, "hr"), wait=True)  # B's own writes, before it dies
    wait_until(lambda: a.count("docs") == 20, 10, what="A to have B's points")
    b.stop(kill=True)
    for start in range(0, 500, 100):
        ca.upsert("docs", points=points(start, 100), wait=True)
    ca.delete("docs", points_selector=m.PointIdsList(points=[1000]), wait=True)
    status = wait_until(lambda: (s := a.status())["peer_reachable"] is False and s, 5, what="A to see B down")
    assert status["lag_ops"] == 6 and status["lag_s"] > 0
    t0 = time.monotonic()
    b.start()
    wait_until(lambda: b.count("docs") == 519, 20, what="B to catch up")
    catch_up = time.monotonic() - t0
    wait_until(lambda: a.status()["lag_ops"] == 0, 5, what="A's lag to drain")
    assert cb.retrieve("docs", ids=[1000]) == []
    assert cb.retrieve("docs", ids=[1001])[0].payload["acl_groups"] == ["hr"]
    if persist:
        assert b.status()["origin"] == status["peers"][0]["origin"]  # same incarnation, data dir kept
    else:
        assert b.status()["origin"] != status["peers"][0]["origin"]  # a new, empty node refilled by A
    print(f"catch-up ({'data dir' if persist else 'in memory'}): B restarted and had all 519 points "
          f"after {catch_up:.2f} s (process start included)")


def test_partition_through_toxiproxy_then_heal(toxiproxy, tmp_path):
    """Each node reaches its peer only through Toxiproxy, as across the WAN."""
    pa, pb = free_port(), free_port()
    to_b = toxiproxy.proxy("dc1-to-dc2", pb)
    to_a = toxiproxy.proxy("dc2-to-dc1", pa)
    a = NodeProcess("dc1", pa, f"http://127.0.0.1:{to_b}", tmp_path / "a")
    b = NodeProcess("dc2", pb, f"http://127.0.0.1:{to_a}", tmp_path / "b")
    try:
        a.start(), b.start()
        ca, cb = client(a), client(b)
        create(ca, "docs")
        ca.upsert("docs", points=points(0, 10), wait=True)
        wait_until(lambda: b.count("docs") == 10, 10, what="replication through the proxy")
        # Cut the link both ways (a disabled proxy refuses; a `timeout` toxic would blackhole).
        toxiproxy.set_enabled("dc1-to-dc2", False)
        toxiproxy.set_enabled("dc2-to-dc1", False)
        ca.upsert("docs", points=points(100, 30), wait=True)
        cb.upsert("docs", points=points(200, 40, "hr"), wait=True)
        # The same document replaced on both sides (delete by filter, then upsert, as the RAG
        # service does): B's replacement is the later one, so it must win on both nodes.
        doc3 = m.FilterSelector(filter=m.Filter(must=[m.FieldCondition(key="doc_id", match=m.MatchValue(value="doc-3"))]))
        for c, group in ((ca, "from-a"), (cb, "from-b")):
            c.delete("docs", points_selector=doc3, wait=True)
            c.upsert("docs", points=[m.PointStruct(id=3, vector=[1.0] * DIM, payload={"doc_id": "doc-3", "acl_groups": [group]})],
                     wait=True)
        # Both sides keep serving reads and writes of their own DC.
        assert a.count("docs") == 40 and b.count("docs") == 50
        wait_until(lambda: a.status()["peer_reachable"] is False and b.status()["peer_reachable"] is False,
                   5, what="both to see the cut")
        assert a.status()["lag_ops"] == 3 and b.status()["lag_ops"] == 3
        t0 = time.monotonic()
        toxiproxy.set_enabled("dc1-to-dc2", True)
        toxiproxy.set_enabled("dc2-to-dc1", True)
        wait_until(lambda: a.count("docs") == 80 and b.count("docs") == 80, 15, what="convergence after heal")
        heal = time.monotonic() - t0
        ids_a = sorted(p.id for p in ca.scroll("docs", limit=200)[0])
        ids_b = sorted(p.id for p in cb.scroll("docs", limit=200)[0])
        assert ids_a == ids_b
        assert ca.retrieve("docs", ids=[3])[0].payload["acl_groups"] == ["from-b"]
        assert cb.retrieve("docs", ids=[3])[0].payload["acl_groups"] == ["from-b"]
        digests = [httpx.get(n.url + "/replication/digest").json()["collections"] for n in (a, b)]
        assert digests[0] == digests[1] and digests[0]["docs"]["points"] == 80
        print(f"partition heal: both nodes converged {heal * 1000:.0f} ms after the link came back")
    finally:
        a.stop()
        b.stop()


def test_latency_toxic_delays_replication_but_not_reads(toxiproxy, tmp_path):
    pa, pb = free_port(), free_port()
    to_b = toxiproxy.proxy("slow-dc1-to-dc2", pb)
    to_a = toxiproxy.proxy("slow-dc2-to-dc1", pa)
    toxiproxy.add_toxic("slow-dc1-to-dc2", "latency", "upstream", latency=300)
    a = NodeProcess("dc1", pa, f"http://127.0.0.1:{to_b}")
    b = NodeProcess("dc2", pb, f"http://127.0.0.1:{to_a}")
    try:
        a.start(), b.start()
        ca = client(a)
        create(ca, "docs")
        t0 = time.monotonic()
        ca.upsert("docs", points=points(0, 5), wait=True)
        ack = time.monotonic() - t0
        assert ack < 0.25  # consistency 1 does not wait for the slow link
        wait_until(lambda: b.count("docs") == 5, 10, what="slow replication")
        visible = time.monotonic() - t0
        assert visible >= 0.3
        create(ca, "strict", wcf=2)
        t0 = time.monotonic()
        ca.upsert("strict", points=points(0, 1), wait=True)
        strict_ack = time.monotonic() - t0
        assert strict_ack >= 0.3
        t0 = time.monotonic()
        ca.query_points("docs", query=[1.0] * DIM, limit=3)
        assert time.monotonic() - t0 < 0.25
        print(f"300 ms WAN latency: consistency-1 ack {ack * 1000:.1f} ms, visible on B after {visible * 1000:.0f} ms, "
              f"consistency-2 ack {strict_ack * 1000:.0f} ms")
    finally:
        a.stop()
        b.stop()


def test_single_node_without_peer_acks_consistency_two_locally(tmp_path):
    node = NodeProcess("solo", data_dir=tmp_path / "solo").start()
    try:
        c = client(node)
        create(c, "strict", wcf=2)
        c.upsert("strict", points=points(0, 3), wait=True)
        assert node.count("strict") == 3
        assert node.status()["peers"] == [] and node.status()["peer_reachable"] is None
        # The log is the durable record: a restart replays it.
        node.stop()
        node.start()
        assert node.count("strict") == 3
    finally:
        node.stop()


def test_replication_endpoint_rejects_garbage_without_5xx(halab_node):
    r = httpx.post(halab_node.url + "/replication/apply", json={"sender": "x", "entries": [{"seq": "a"}]})
    assert r.status_code == 400
    r = httpx.post(halab_node.url + "/replication/apply", json={"sender": "x", "entries": [
        {"origin": "zz:1", "seq": 1, "ts": 0, "op": {"op": "upsert", "collection": "nope", "points": []}}]})
    assert r.status_code == 200 and r.json()["watermarks"]["zz:1"] == 1  # skipped, counted, not stuck
    assert halab_node.status()["apply_errors"] >= 1
    _ = ResponseHandlingException  # imported for readers: client-side timeouts surface as this
