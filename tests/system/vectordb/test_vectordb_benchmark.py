"""system/vectordb figures (prints, asserts nothing about time): query latency over HTTP and
in process, upsert throughput, replication lag and the cost of write consistency 2.

Run: pytest -m benchmark tests/system/vectordb -s
"""

from __future__ import annotations

import random
import statistics
import time

import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m
from vectordb_support import wait_until

pytestmark = pytest.mark.benchmark
SEED = 7
POINTS = 5000
DIM = 64
QUERIES = 300
GROUPS = ["eng", "hr", "ops", "finance", "legal"]


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] * 1000


def test_query_latency_and_replication_lag(pair):
    rng = random.Random(SEED)
    a, b = pair(persist=False)
    ca = QdrantClient(url=a.url, timeout=30, check_compatibility=False)
    ca.create_collection("bench", vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE))
    ca.create_collection("strict", vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE),
                         write_consistency_factor=2)
    pts = [m.PointStruct(id=i, vector=[rng.gauss(0, 1) for _ in range(DIM)],
                         payload={"doc_id": f"doc-{i // 4}", "acl_groups": rng.sample(GROUPS, 2)}) for i in range(POINTS)]
    t0 = time.perf_counter()
    for start in range(0, POINTS, 500):
        ca.upsert("bench", points=pts[start:start + 500], wait=True)
    upsert_s = time.perf_counter() - t0
    wait_until(lambda: b.count("bench") == POINTS, 60, 0.01, "B to have every point")
    replicated_s = time.perf_counter() - t0

    flt = m.Filter(must=[m.FieldCondition(key="acl_groups", match=m.MatchAny(any=["eng", "ops"]))])
    queries = [[rng.gauss(0, 1) for _ in range(DIM)] for _ in range(QUERIES)]
    lat = []
    for q in queries:
        t = time.perf_counter()
        ca.query_points("bench", query=q, query_filter=flt, limit=5, with_payload=True)
        lat.append(time.perf_counter() - t)

    # Replication lag of single-point writes, and the price of consistency 2.
    c1, c2 = [], []
    for i in range(200):
        p = [m.PointStruct(id=POINTS + i, vector=queries[i % QUERIES], payload={"acl_groups": ["eng"]})]
        t = time.perf_counter()
        ca.upsert("bench", points=p, wait=True)
        c1.append(time.perf_counter() - t)
        t = time.perf_counter()
        ca.upsert("strict", points=p, wait=True)
        c2.append(time.perf_counter() - t)
        time.sleep(0.002)
    wait_until(lambda: a.status()["lag_ops"] == 0, 10, what="lag to drain")
    delay = b.status()["apply_delay_ms"]
    print(f"\nvectordb ({POINTS} points x {DIM} dims, two nodes on loopback):")
    print(f"  upsert {POINTS} points in batches of 500: {upsert_s:.2f} s on A; all on B after {replicated_s:.2f} s")
    print(f"  filtered query (MatchAny, limit 5) via qdrant-client over HTTP: p50 {pct(lat, .5):.2f} ms, "
          f"p99 {pct(lat, .99):.2f} ms, mean {statistics.mean(lat) * 1000:.2f} ms")
    print(f"  single-point upsert: consistency 1 p50 {pct(c1, .5):.2f} ms p99 {pct(c1, .99):.2f} ms; "
          f"consistency 2 p50 {pct(c2, .5):.2f} ms p99 {pct(c2, .99):.2f} ms")
    print(f"  replication apply delay on B (ack on A to applied on B): p50 {delay['p50']} ms, p99 {delay['p99']} ms, "
          f"max {delay['max']} ms over {delay['samples']} operations")


def test_query_latency_in_process(tmp_path):
    """The engine alone (no HTTP), to separate the API's overhead from the search."""
    from system.vectordb.engine import Engine

    rng = random.Random(SEED)
    engine = Engine(tmp_path / "shards")
    engine.apply({"op": "create_collection", "name": "b", "config": {"vectors": {"size": DIM, "distance": "Cosine"}}})
    pts = [{"id": i, "vector": [rng.gauss(0, 1) for _ in range(DIM)], "payload": {"acl_groups": rng.sample(GROUPS, 2)}}
           for i in range(POINTS)]
    t0 = time.perf_counter()
    engine.apply({"op": "upsert", "collection": "b", "points": pts})
    upsert_s = time.perf_counter() - t0
    body = {"filter": {"must": [{"key": "acl_groups", "match": {"any": ["eng", "ops"]}}]}, "limit": 5, "with_payload": True}
    lat = []
    for _ in range(QUERIES):
        q = [rng.gauss(0, 1) for _ in range(DIM)]
        t = time.perf_counter()
        engine.query("b", body | {"query": q})
        lat.append(time.perf_counter() - t)
    engine.close()
    print(f"\nvectordb engine in process: upsert {POINTS}x{DIM} in {upsert_s:.3f} s; filtered query "
          f"p50 {pct(lat, .5):.3f} ms, p99 {pct(lat, .99):.3f} ms")


def test_catch_up_rate_and_reads_meanwhile(pair):
    """B is down while A takes 20,000 points; then B returns. How fast does it catch up, and
    what do B's own readers see meanwhile?"""
    import threading

    import httpx

    rng = random.Random(SEED)
    total = 20_000
    a, b = pair(persist=True)
    ca = QdrantClient(url=a.url, timeout=30, check_compatibility=False)
    ca.create_collection("bench", vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE))
    wait_until(lambda: b.count("bench") == 0, 10, what="B to have the collection")
    b.stop()
    for start in range(0, total, 500):
        ca.upsert("bench", points=[m.PointStruct(id=i, vector=[rng.gauss(0, 1) for _ in range(DIM)],
                                                 payload={"acl_groups": ["eng"]}) for i in range(start, start + 500)],
                  wait=True)
    lat, stop = [], threading.Event()
    body = {"query": [1.0] * DIM, "limit": 5, "filter": {"must": [{"key": "acl_groups", "match": {"any": ["eng"]}}]}}

    def reader():
        with httpx.Client(base_url=b.url, timeout=10) as h:
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    h.post("/collections/bench/points/query", json=body)
                    lat.append(time.perf_counter() - t)
                except httpx.HTTPError:
                    time.sleep(0.01)

    t0 = time.perf_counter()
    b.start()
    up = time.perf_counter() - t0
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        wait_until(lambda: b.count("bench") == total, 120, 0.05, "B to catch up")
    finally:
        stop.set()
        thread.join()
    caught = time.perf_counter() - t0
    print(f"\ncatch-up: {total} points x {DIM} dims ({total // 500} operations) on B {caught:.2f} s after its "
          f"restart ({up:.2f} s of it the process start): {total / (caught - up):.0f} points/s; B's queries "
          f"meanwhile ({len(lat)}): p50 {pct(lat, .5):.1f} ms, p99 {pct(lat, .99):.1f} ms, max {max(lat) * 1000:.0f} ms")


def test_compaction_of_20k_points_and_writes_meanwhile(tmp_path):
    """Compaction in process: 20,000 points of 384 dims (the RAG embedding size) snapshotted and
    the log cut, while single-point writes go on; how long it takes and the longest a write waited."""
    import asyncio

    from system.vectordb.engine import Engine
    from system.vectordb.node import Node
    from system.vectordb.oplog import OpLog

    dim, total = 384, 20_000
    rng = random.Random(SEED)
    node = Node(Engine(tmp_path / "shards"), OpLog(tmp_path / "oplog.jsonl"), node_id="bench", origin="bench:1",
                snapshot_path=tmp_path / "snapshot.jsonl")
    node.restore()
    node.write_local({"op": "create_collection", "name": "b", "config": {"vectors": {"size": dim, "distance": "Cosine"}}})
    for start in range(0, total, 500):
        node.write_local({"op": "upsert", "collection": "b", "points": [
            {"id": i, "vector": [rng.gauss(0, 1) for _ in range(dim)], "payload": {"acl_groups": rng.sample(GROUPS, 2)}}
            for i in range(start, start + 500)]})
    log_bytes = (tmp_path / "oplog.jsonl").stat().st_size

    async def compact_while_writing():
        waits, done = [], asyncio.Event()

        async def writer():
            i = 0
            while not done.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0)
                node.write_local({"op": "set_payload", "collection": "b", "payload": {"w": i}, "points": [i]})
                waits.append(time.perf_counter() - t)
                i += 1

        task = asyncio.create_task(writer())
        t0 = time.perf_counter()
        await node.compact()
        took = time.perf_counter() - t0
        done.set()
        await task
        return took, waits

    took, waits = asyncio.run(compact_while_writing())
    status = node.status()
    node.oplog.close()
    node.engine.close()
    print(f"\ncompaction of {total} points x {dim} dims (log {log_bytes / 1e6:.0f} MB, {total // 500 + 1} entries): "
          f"{took:.2f} s, snapshot {status['snapshot_bytes'] / 1e6:.0f} MB; {len(waits)} writes meanwhile, "
          f"longest wait {max(waits) * 1000:.0f} ms, p99 {pct(waits, .99):.1f} ms; log after: {status['log_length']} entries")


def test_empty_peer_filled_by_a_snapshot(tmp_path):
    """A compacted 20,000 x 384-d node; an empty peer joins and is sent the snapshot. How long
    until it has everything, and what do A's writers see meanwhile?"""
    from vectordb_support import NodeProcess, free_port

    dim, total = 384, 20_000
    rng = random.Random(SEED)
    pa, pb = free_port(), free_port()
    env = {"HALAB_VECTORDB_COMPACT_AFTER": "20"}
    a = NodeProcess("dc1", pa, f"http://127.0.0.1:{pb}", tmp_path / "a", **env)
    b = NodeProcess("dc2", pb, f"http://127.0.0.1:{pa}", tmp_path / "b", **env)
    try:
        a.start()
        ca = QdrantClient(url=a.url, timeout=60, check_compatibility=False)
        ca.create_collection("bench", vectors_config=m.VectorParams(size=dim, distance=m.Distance.COSINE))
        for start in range(0, total, 500):
            ca.upsert("bench", points=[m.PointStruct(id=i, vector=[rng.gauss(0, 1) for _ in range(dim)],
                                                     payload={"acl_groups": ["eng"]}) for i in range(start, start + 500)],
                      wait=True)
        wait_until(lambda: a.status()["log_length"] <= 20, 60, 0.1, "A to compact")
        t0 = time.perf_counter()
        b.start()
        waits = []
        while b.count("bench") != total:
            t = time.perf_counter()
            ca.set_payload("bench", payload={"w": len(waits)}, points=[len(waits) % total], wait=True)
            waits.append(time.perf_counter() - t)
            assert time.perf_counter() - t0 < 300
        filled = time.perf_counter() - t0
        sa = a.status()
        print(f"\nsnapshot fill: {total} x {dim} points ({sa['snapshot_bytes'] / 1e6:.0f} MB snapshot on disk) on an "
              f"empty peer {filled:.1f} s after its start, {sa['snapshots_shipped']} snapshot(s) shipped; A's "
              f"single-point writes meanwhile ({len(waits)}): p50 {pct(waits, .5):.1f} ms, p99 {pct(waits, .99):.1f} ms, "
              f"max {max(waits) * 1000:.0f} ms")
    finally:
        a.stop()
        b.stop()
