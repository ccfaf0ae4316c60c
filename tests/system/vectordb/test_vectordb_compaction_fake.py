"""system/vectordb without a network: log compaction, snapshots written, read and merged, and
the shipper's choice between entries and a snapshot (a fake peer stands in for the other node)."""

from __future__ import annotations

import asyncio

from system.vectordb import snapshot
from system.vectordb.engine import Engine
from system.vectordb.node import Node
from system.vectordb.oplog import OpLog

CREATE = {"op": "create_collection", "name": "docs", "config": {"vectors": {"size": 2, "distance": "Dot"}}}


def upsert(*ids, group="eng", collection="docs"):
    return {"op": "upsert", "collection": collection,
            "points": [{"id": i, "vector": [1.0, float(i)], "payload": {"acl_groups": [group]}} for i in ids]}


def node(tmp_path, name="a", peers=(), compact_after=0, files=True):
    log = OpLog(tmp_path / name / "oplog.jsonl" if files else None)
    n = Node(Engine(tmp_path / name / "shards"), log, node_id=name, origin=f"{name}:1", peers=list(peers),
             compact_after=compact_after, snapshot_path=tmp_path / name / "snapshot.jsonl" if files else None)
    n.apply_budget_s = 60.0
    n.replayed = n.restore()
    return n


def reopen(tmp_path, n: Node, name="a") -> Node:
    n.oplog.close()
    n.engine.close()
    return node(tmp_path, name, [p.url for p in n.peers], n.compact_after)


def wire(*entries):
    return [{"origin": e.origin, "seq": e.seq, "ts": e.ts, "op": e.op} for e in entries]


def install_all(receiver: Node, sender: Node) -> dict:
    async def go():
        answer = None
        for part in snapshot.parts(sender.engine, sender.oplog.watermarks, sender._clock_floor):
            answer = await receiver.install(part)
        return answer

    return asyncio.run(go())


def busy_node(tmp_path, name="a", **kw) -> Node:
    """Creates, upserts, a delete (a tombstone), a payload index, a second collection deleted."""
    n = node(tmp_path, name, **kw)
    n.write_local(CREATE)
    n.write_local({"op": "create_index", "collection": "docs", "field_name": "acl_groups", "field_schema": "keyword"})
    for i in range(0, 40, 4):
        n.write_local(upsert(i, i + 1, i + 2, i + 3))
    n.write_local({"op": "delete_points", "collection": "docs", "points": [5, 6]})
    n.write_local({"op": "set_payload", "collection": "docs", "payload": {"x": 1}, "points": [7]})
    n.write_local({**CREATE, "name": "gone"})
    n.write_local({"op": "delete_collection", "name": "gone"})
    return n


def test_compaction_keeps_only_what_a_peer_still_needs(tmp_path):
    a = node(tmp_path, "a", peers=["http://b", "http://c"], compact_after=20)
    b, c = a.peers
    for op in [CREATE] + [upsert(i) for i in range(1, 20)]:
        a.write_local(op)
    b._learn({"origin": "b:1", "watermarks": {"a:1": 20}})
    c._learn({"origin": "c:1", "watermarks": {"a:1": 12}})
    asyncio.run(a.compact())
    assert [e.seq for e in a.oplog.entries] == list(range(13, 21))  # what c lacks stays
    assert a.oplog.floor == {"a:1": 12} and not c._needs_snapshot() and not b._needs_snapshot()
    assert [e.seq for e in c._batch()] == list(range(13, 21))
    # c never answers again: it holds back at most compact_after / 2 entries, then needs a snapshot.
    for i in range(20, 40):
        a.write_local(upsert(i))
    b._learn({"origin": "b:1", "watermarks": {"a:1": 40}})
    asyncio.run(a.compact())
    assert len(a.oplog.entries) == 10 and a.oplog.floor == {"a:1": 30}
    assert c._needs_snapshot() and not b._needs_snapshot()
    # A peer never reached counts as lacking everything.
    fresh = node(tmp_path, "x", peers=["http://never"], compact_after=20)
    for op in [CREATE] + [upsert(i) for i in range(1, 30)]:
        fresh.write_local(op)
    asyncio.run(fresh.compact())
    assert len(fresh.oplog.entries) == 10 and fresh.peers[0]._needs_snapshot()


def test_compaction_off_keeps_everything_a_peer_lacks(tmp_path):
    a = node(tmp_path, "a", peers=["http://b"], compact_after=0)
    for op in [CREATE] + [upsert(i) for i in range(1, 30)]:
        a.write_local(op)
    asyncio.run(a.compact())
    assert len(a.oplog.entries) == 30


def test_restart_from_snapshot_and_tail_gives_the_same_state(tmp_path):
    a = busy_node(tmp_path)
    asyncio.run(a.compact())  # no peers: everything is dropped
    assert a.oplog.entries == [] and (tmp_path / "a" / "oplog.jsonl").read_bytes() == b""
    a.write_local(upsert(100))
    a.write_local({"op": "delete_points", "collection": "docs", "points": [0]})
    before, stamps, marks = a.engine.digest(), dict(a.engine.collections["docs"].stamps), dict(a.oplog.watermarks)
    a = reopen(tmp_path, a)
    assert a.engine.digest() == before and a.oplog.watermarks == marks
    assert a.engine.collections["docs"].stamps == stamps  # tombstones of 0, 5 and 6 included
    assert "gone" not in a.engine.collections and "acl_groups" in a.engine.collections["docs"].payload_schema
    entry, _ = a.write_local(upsert(101))
    assert entry.seq == marks["a:1"] + 1


def test_a_crash_between_the_snapshot_and_the_log_rewrite_replays_nothing_twice(tmp_path):
    a = busy_node(tmp_path)
    asyncio.run(snapshot.write_file(a.snapshot_path, snapshot.parts(a.engine, a.oplog.watermarks, a._clock_floor)))
    full = len(a.oplog.entries)
    # An entry the snapshot lacks, written before the crash: replayed on top of it.
    a.write_local({"op": "set_payload", "collection": "docs", "payload": {"late": True}, "points": [1]})
    before = a.engine.digest()
    a = reopen(tmp_path, a)
    assert a.engine.digest() == before
    assert len(a.oplog.entries) == full + 1 and len(a.replayed) == 1  # all still shippable, one applied
    assert a.oplog.floor == {"a:1": 0}


def test_writes_between_parts_end_up_in_the_replayed_tail(tmp_path):
    """A fuzzy snapshot: writes land between its parts; snapshot + later entries = live state."""
    a = node(tmp_path, "a")
    a.write_local(CREATE)
    a.write_local(upsert(*range(0, 3000)))
    a.write_local({"op": "delete_points", "collection": "docs", "points": [10]})
    source = snapshot.parts(a.engine, a.oplog.watermarks, a._clock_floor)
    parts = [next(source)]
    a.write_local(upsert(2999, group="late"))  # ahead of the export's cursor
    parts.append(next(source))
    a.write_local(upsert(0, group="late"))  # behind it
    a.write_local(upsert(10, group="reborn"))  # behind it, and a tombstone when the export began
    a.write_local(upsert(5000))  # new, behind nothing
    a.write_local({"op": "delete_points", "collection": "docs", "points": [2998, 1]})
    parts += list(source)
    b = node(tmp_path, "b", files=False)
    for part in parts[:-1]:
        snapshot.merge(b.engine, part)
    b.replay([e for e in a.oplog.entries if e.seq > parts[-1]["watermarks"]["a:1"]])
    assert b.engine.digest() == a.engine.digest()


def test_installing_a_snapshot_keeps_our_own_unshipped_writes(tmp_path):
    a, b = busy_node(tmp_path, "a"), node(tmp_path, "b", peers=["http://a"])
    b.write_local({**CREATE, "name": "mine"})
    b.write_local(upsert(1, collection="mine"))
    b.receive("a:1", wire(*a.oplog.entries[:3]))  # some of a's early entries, then a compacts
    mark_a = b.oplog.watermarks["a:1"]
    a.write_local(upsert(1, group="newer"))
    answer = install_all(b, a)
    assert answer["watermarks"]["a:1"] == a.oplog.watermarks["a:1"] > mark_a
    assert b.engine.digest()["docs"] == a.engine.digest()["docs"]
    assert b.engine.count("mine", {}) == 1  # ours, unknown to a: kept
    assert [(e.origin, e.seq) for e in b.oplog.entries] == [("b:1", 1), ("b:1", 2)]  # a's are covered now
    assert b.oplog.floor["a:1"] == a.oplog.watermarks["a:1"]
    # Newer writes here win over the snapshot's older ones, whatever the order.
    b.write_local(upsert(2, group="b-wins"))
    install_all(b, a)
    assert b.engine.retrieve("docs", [2])[0]["payload"] == {"acl_groups": ["b-wins"]}
    # a deletes the collection it created; a snapshot from a then removes it here too.
    a.write_local({"op": "delete_collection", "name": "docs"})
    install_all(b, a)
    assert "docs" not in b.engine.collections and "mine" in b.engine.collections


def test_restart_after_installing_keeps_the_run_after_the_jump(tmp_path):
    """Our log file holds a's 1..3, then (after a snapshot up to 30) a's 31..: a gap. With our
    own snapshot written the run before the gap is covered; without it, the jump is ignored and
    a, seeing us behind its floor, sends the snapshot again."""
    a, b = busy_node(tmp_path, "a"), node(tmp_path, "b", compact_after=0)
    b.receive("a:1", wire(*a.oplog.entries[:3]))
    install_all(b, a)
    tail = a.write_local(upsert(200))[0]
    b.receive("a:1", wire(tail))
    assert b.oplog.watermarks["a:1"] == tail.seq
    before = b.engine.digest()
    lost = reopen(tmp_path, b, "b")  # the forced snapshot never ran (no loop): only the log
    assert lost.oplog.watermarks["a:1"] == 3 and [e.seq for e in lost.oplog.entries] == [1, 2, 3]
    asyncio.run(lost.compact())  # stands for the snapshot the install schedules...
    install_all(lost, a)
    lost.receive("a:1", wire(tail))
    asyncio.run(lost.compact())  # ...here written after it, the log still holding the jump
    again = reopen(tmp_path, lost, "b")
    assert again.engine.digest() == before and again.oplog.watermarks["a:1"] == tail.seq
