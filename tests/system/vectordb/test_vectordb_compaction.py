"""system/vectordb: log compaction with real node processes.

A node's log stays bounded under a stream of writes and a restart from its data dir (snapshot
+ log tail) gives the same content; a peer that joins empty, or returns after the others
compacted past what it had, is sent a snapshot and ends with the same content; a crash between
writing the snapshot and rewriting the log replays to the same content.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from qdrant_client import models as m
from vectordb_support import NodeProcess, client, create, free_port, points, wait_until

pytestmark = pytest.mark.slow
COMPACT_AFTER = 50


def digest(node) -> dict:
    return httpx.get(node.url + "/replication/digest", timeout=10).json()["collections"]


def log_lines(data_dir: Path) -> int:
    with (data_dir / "oplog.jsonl").open("rb") as f:
        return sum(1 for _ in f)


def write_mix(c, start: int, n: int) -> None:
    """n writes: upserts of 2 points each, every tenth a delete, every seventh a payload update
    (the point it names may have been deleted: by filter, so it is not an error)."""
    for i in range(start, start + n):
        if i % 10 == 9:
            c.delete("docs", points_selector=[2 * (i - 5)], wait=True)
        elif i % 7 == 6:
            c.set_payload("docs", payload={"touched": i}, wait=True, points=m.Filter(
                must=[m.HasIdCondition(has_id=[2 * (i - 3)])]))
        else:
            c.upsert("docs", points=points(2 * i, 2), wait=True)


def test_the_log_stays_bounded_and_a_restart_gives_the_same_content(tmp_path):
    node = NodeProcess("solo", data_dir=tmp_path / "solo", HALAB_VECTORDB_COMPACT_AFTER=str(COMPACT_AFTER)).start()
    try:
        c = client(node)
        create(c, "docs")
        longest = 0
        for start in range(0, 500, 50):
            write_mix(c, start, 50)
            longest = max(longest, node.status()["log_length"], log_lines(tmp_path / "solo"))
        status = wait_until(lambda: (s := node.status())["log_length"] <= COMPACT_AFTER and s, 10, what="compaction")
        # A compaction may lag and cover more than COMPACT_AFTER entries on a busy host: the bound
        # on the log is the promise, and it takes at least one compaction per 2 x COMPACT_AFTER.
        assert status["compactions"] >= 500 // (2 * COMPACT_AFTER) - 1 and longest <= 2 * COMPACT_AFTER
        assert status["snapshot_bytes"] > 0 and status["own_seq"] == 501
        before = digest(node)
        node.stop()
        node.start()
        assert digest(node) == before
        assert node.status()["own_seq"] == 501  # the sequence continues where it was
        print(f"compaction after {COMPACT_AFTER}: 501 writes, {status['compactions']} compactions, longest log "
              f"{longest} entries, snapshot {status['snapshot_bytes']} bytes / {status['snapshot_points']} points, "
              f"last compaction {status['last_compaction_ms']} ms")
    finally:
        node.stop()


@pytest.mark.parametrize("persist", [True, False], ids=["data-dir", "in-memory"])
def test_an_empty_peer_joining_after_compaction_gets_a_snapshot(tmp_path, persist):
    """In memory there is no snapshot file: the shipper exports the live state instead."""
    pa, pb = free_port(), free_port()
    env = {"HALAB_VECTORDB_COMPACT_AFTER": str(COMPACT_AFTER)}
    a = NodeProcess("dc1", pa, f"http://127.0.0.1:{pb}", tmp_path / "a" if persist else None, **env)
    b = NodeProcess("dc2", pb, f"http://127.0.0.1:{pa}", tmp_path / "b" if persist else None, **env)
    try:
        a.start()
        ca = client(a)
        create(ca, "docs")
        ca.create_payload_index("docs", "doc_id", "keyword", wait=True)
        write_mix(ca, 0, 200)
        # B was never reached: A keeps at most half the bound for it, not everything.
        status = wait_until(lambda: (s := a.status())["log_length"] <= COMPACT_AFTER and s, 10, what="A to compact")
        assert status["log_floor"][status["origin"]] > 0
        b.start()
        wait_until(lambda: digest(b) == digest(a), 20, what="B to get A's content")
        assert a.status()["snapshots_shipped"] >= 1 and b.status()["snapshots_installed"] >= 1
        assert client(b).get_collection("docs").payload_schema.keys() == {"doc_id"}
        # Writes go on both ways after the snapshot, and B's state survives its restart.
        client(b).upsert("docs", points=points(5000, 3, "hr"), wait=True)
        ca.upsert("docs", points=points(6000, 3), wait=True)
        wait_until(lambda: digest(a) == digest(b) and a.count("docs") == b.count("docs"), 10, what="convergence")
        b.stop()
        b.start()
        wait_until(lambda: digest(b) == digest(a), 10, what="B's content after its restart")
    finally:
        a.stop()
        b.stop()


def test_a_peer_that_returns_after_the_others_compacted_past_it_catches_up(mesh):
    a, b, c = mesh(3, HALAB_VECTORDB_COMPACT_AFTER=str(COMPACT_AFTER))
    ca, cc = client(a), client(c)
    create(ca, "docs")
    write_mix(ca, 0, 20)
    wait_until(lambda: digest(c) == digest(a) == digest(b), 10, what="all three equal")
    c_origin = c.status()["origin"]
    cc.upsert("docs", points=points(9000, 2, "ops"), wait=True)  # C's own, shipped before it stops
    wait_until(lambda: a.count("docs") == c.count("docs"), 10, what="C's write to reach A")
    c.stop()
    write_mix(ca, 20, 150)
    client(b).upsert("docs", points=points(7000, 4, "hr"), wait=True)
    ahead = wait_until(lambda: (s := a.status())["log_floor"].get(s["origin"], 0) > 25 and s, 10,
                       what="A to compact past C's watermark")
    c.start()
    wait_until(lambda: digest(c) == digest(a) == digest(b), 20, what="C to catch up")
    assert c.status()["origin"] == c_origin  # same incarnation: it had its data dir, only behind
    assert a.status()["snapshots_shipped"] + b.status()["snapshots_shipped"] >= 1
    print(f"returning peer: A's floor was {ahead['log_floor'][ahead['origin']]}, its log {ahead['log_length']} entries; "
          f"C caught up through a snapshot")


def test_a_crash_between_the_snapshot_and_the_log_rewrite_replays_to_the_same_content(tmp_path):
    data = tmp_path / "solo"
    node = NodeProcess("solo", data_dir=data, HALAB_VECTORDB_COMPACT_AFTER="0").start()
    try:
        c = client(node)
        create(c, "docs")
        write_mix(c, 0, 120)
        before, entries = digest(node), node.status()["log_length"]
        node.stop()
        _snapshot_without_rewriting_the_log(data)
        assert log_lines(data) == entries and (data / "snapshot.jsonl").exists()
        node.start()
        status = node.status()
        assert digest(node) == before
        assert status["snapshot_points"] > 0 and status["log_length"] == entries and status["own_seq"] == entries
    finally:
        node.stop()


def _snapshot_without_rewriting_the_log(data: Path) -> None:
    """What compaction does up to the crash: the snapshot renamed in place, the log untouched."""
    from system.vectordb import snapshot
    from system.vectordb.engine import Engine
    from system.vectordb.node import Node
    from system.vectordb.oplog import OpLog

    log = OpLog(data / "oplog.jsonl")
    node = Node(Engine(data / "offline-shards"), log, node_id="solo", origin="offline")
    node.restore()
    asyncio.run(snapshot.write_file(data / "snapshot.jsonl",
                                    snapshot.parts(node.engine, log.watermarks, node._clock_floor)))
    log.close()
    node.engine.close()


def test_the_snapshot_endpoint_rejects_garbage_without_5xx(halab_node):
    for part in ({"kind": "nope"}, {"kind": "end"}, {"kind": "end", "watermarks": {"x": "1"}, "clock_floor": 0,
                                                         "collections": []},
                 {"kind": "tombstones", "collection": "missing", "stamps": [[1]]},
                 {"kind": "header", "collections": [{"name": "c_bad", "config": "x"}]}):
        r = httpx.post(halab_node.url + "/replication/snapshot", json={"sender": "x", "part": part})
        assert r.status_code == 400 or (r.status_code == 200 and part["kind"] == "tombstones"), (part, r.text)
    r = httpx.post(halab_node.url + "/replication/snapshot", json={"sender": "x", "part": None})
    assert r.status_code == 400
