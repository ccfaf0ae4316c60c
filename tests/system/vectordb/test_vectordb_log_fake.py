"""system/vectordb without a network: the operation log, idempotent apply, shipping state,
filter conversion (a fake peer stands in for the other node)."""

from __future__ import annotations

import asyncio

import pytest
import qdrant_edge as qe

from system.vectordb import convert as cv
from system.vectordb.engine import Engine
from system.vectordb.errors import AlreadyExists, BadInput, NotFound
from system.vectordb.node import Node
from system.vectordb.oplog import Entry, OpLog

CREATE = {"op": "create_collection", "name": "docs", "config": {"vectors": {"size": 2, "distance": "Dot"}}}


def upsert(*ids, group="eng"):
    return {"op": "upsert", "collection": "docs",
            "points": [{"id": i, "vector": [1.0, float(i)], "payload": {"acl_groups": [group], "ok": i % 2 == 0}}
                       for i in ids]}


@pytest.fixture
def engine(tmp_path):
    e = Engine(tmp_path / "shards")
    yield e
    e.close()


def node(tmp_path, name="a", peer=None, log_file=True):
    e = Engine(tmp_path / f"{name}-shards")
    log = OpLog(tmp_path / f"{name}.jsonl" if log_file else None)
    log.load()
    n = Node(e, log, node_id=name, origin=f"{name}:1", peers=[peer] if peer else [])
    n.apply_budget_s = 60.0  # these tests deliver each batch once; the budget is tested below
    return n


def count(engine, flt=None):
    return engine.count("docs", {"filter": flt} if flt else {})


def test_engine_errors_are_typed(engine):
    engine.apply(CREATE)
    with pytest.raises(AlreadyExists):
        engine.apply(CREATE)
    assert engine.apply(CREATE, replicated=True) is False  # both DCs may create it
    with pytest.raises(NotFound):
        engine.apply({**upsert(1), "collection": "nope"})
    with pytest.raises(BadInput, match="dimension"):
        engine.apply({"op": "upsert", "collection": "docs", "points": [{"id": 1, "vector": [1.0]}]})
    with pytest.raises(BadInput):
        engine.apply({"op": "drop_everything"})
    assert count(engine) == 0  # nothing half-applied


def test_log_survives_a_torn_tail_and_replays(tmp_path):
    a = node(tmp_path)
    a.write_local(CREATE)
    a.write_local(upsert(1, 2, 3))
    a.oplog.close()
    with (tmp_path / "a.jsonl").open("ab") as f:
        f.write(b'{"origin":"a:1","seq":3,"ts":0,"op":{"op":"upse')  # a crash mid-append
    log = OpLog(tmp_path / "a.jsonl")
    entries = log.load()
    assert [e.seq for e in entries] == [1, 2] and log.watermarks == {"a:1": 2}
    fresh = Node(Engine(tmp_path / "replay"), log, node_id="a", origin="a:1")
    fresh.replay(entries)
    assert count(fresh.engine) == 3
    entry, _ = fresh.write_local(upsert(4))
    assert entry.seq == 3  # the sequence continues after the replayed log


def test_receive_is_idempotent_and_stops_at_a_gap(tmp_path):
    a, b = node(tmp_path, "a"), node(tmp_path, "b")
    e1, _ = a.write_local(CREATE)
    e2, _ = a.write_local(upsert(1, 2))
    e3, _ = a.write_local(upsert(3))
    wire = lambda *es: [{"origin": e.origin, "seq": e.seq, "ts": e.ts, "op": e.op} for e in es]
    assert b.receive("a:1", wire(e1, e3))["watermarks"] == {"a:1": 1}  # gap at 2: stop
    assert b.receive("a:1", wire(e1, e2, e3))["watermarks"] == {"a:1": 3}
    assert b.receive("a:1", wire(e2, e3))["watermarks"] == {"a:1": 3}  # duplicates skipped
    assert count(b.engine) == 3 and len(b.oplog.entries) == 3
    # B's log keeps A's entries under A's origin; B's own writes get B's sequence numbers.
    e, _ = b.write_local(upsert(9))
    assert (e.origin, e.seq) == ("b:1", 1)


def test_shipping_state_skips_what_the_peer_has_and_rescans_on_a_new_incarnation(tmp_path):
    a = node(tmp_path, "a", peer="http://peer")
    for op in (CREATE, upsert(1), upsert(2)):
        a.write_local(op)
    a.peers[0]._learn({"origin": "b:1", "watermarks": {"a:1": 1}})
    assert [e.seq for e in a.peers[0]._batch()] == [2, 3]
    assert a.status()["lag_ops"] == 2 and a.status()["peer_acked_seq"] == 1
    a.peers[0]._learn({"origin": "b:1", "watermarks": {"a:1": 3}})
    assert a.peers[0]._batch() == [] and a.status()["lag_ops"] == 0 and a.peers[0].cursor == 3
    # The peer came back empty (a new incarnation): everything is shipped again.
    a.peers[0]._learn({"origin": "b:2", "watermarks": {}})
    assert a.peers[0].cursor == 0 and [e.seq for e in a.peers[0]._batch()] == [1, 2, 3]
    # Entries that came from the peer's origin are not shipped back to it...
    a.oplog.append(Entry.make("b:2", 1, 0.0, upsert(7)))
    a.peers[0]._learn({"origin": "b:2", "watermarks": {"b:2": 1}})
    assert all(e.origin == "a:1" for e in a.peers[0]._batch())
    # ...unless its log lost them (a torn tail after a crash): then they restore it.
    a.peers[0]._learn({"origin": "b:2", "watermarks": {"b:2": 0, "a:1": 3}})
    assert [(e.origin, e.seq) for e in a.peers[0]._batch()] == [("b:2", 1)]


def test_consistency_two_waits_for_the_peer_ack(tmp_path):
    async def scenario():
        a = node(tmp_path, "a", peer="http://peer")
        a.consistency_timeout_s = 0.2
        a.write_local(CREATE)
        from system.vectordb.errors import Unavailable

        with pytest.raises(Unavailable):
            await a.write(upsert(1), consistency=2)
        waiting = asyncio.create_task(a.write(upsert(2), consistency=2))
        await asyncio.sleep(0.05)
        a.peers[0]._learn({"origin": "b:1", "watermarks": {"a:1": 3}})  # the fake peer acks
        entry, _ = await waiting
        assert entry.seq == 3

    asyncio.run(scenario())


def test_filters_convert_like_qdrant(engine):
    engine.apply(CREATE)
    engine.apply(upsert(1, 2, 3, 4))
    engine.apply(upsert(5, group="hr"))
    assert count(engine, {"must": [{"key": "acl_groups", "match": {"any": ["eng"]}}]}) == 4
    assert count(engine, {"must": {"key": "acl_groups", "match": {"value": "hr"}}}) == 1  # a single condition
    assert count(engine, {"must": [{"key": "ok", "match": {"value": True}}]}) == 2
    assert count(engine, {"must_not": [{"has_id": [1, 2]}]}) == 3
    assert count(engine, {"should": [{"must": [{"key": "ok", "match": {"value": False}}]},
                                     {"key": "acl_groups", "match": {"value": "hr"}}]}) == 3
    assert count(engine, {"min_should": {"conditions": [{"has_id": [1]}, {"has_id": [1, 2]}], "min_count": 2}}) == 1
    for bad in ({"must": [{"key": "x"}]}, {"muss": []}, {"must": [{"key": "x", "match": {"any": [1, "a"]}}]},
                {"must": [{"key": "x", "range": {"gt": "a", "lt": 1}}]}, {"must": [{"has_id": ["nope"]}]}, []):
        with pytest.raises(BadInput):
            cv.to_filter(bad)


def test_bool_match_stays_boolean():
    # qdrant-edge-py 0.9 would read a plain True as the integer 1.
    assert cv.to_filter({"must": [{"key": "f", "match": {"value": True}}]}).must[0].match.value is True
    assert isinstance(cv.to_filter({"must": [{"key": "f", "match": {"value": 1}}]}).must[0].match, qe.MatchValue)


def test_api_key_like_qdrant(tmp_path):
    from fastapi.testclient import TestClient

    from system.vectordb.app import build_app
    from system.vectordb.settings import Settings

    with TestClient(build_app(Settings(node_id="k", api_key="s3cret"))) as c:
        assert c.get("/healthz").status_code == 200  # health stays open, as in Qdrant
        assert c.get("/collections").status_code == 401
        assert c.get("/collections", headers={"api-key": "nope"}).status_code == 401
        assert c.get("/collections", headers={"api-key": "s3cret"}).status_code == 200
        assert c.get("/collections", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/replication").status_code == 401


def test_digest_tells_equal_content(tmp_path):
    a, b = node(tmp_path, "a"), node(tmp_path, "b")
    for n in (a, b):
        n.write_local(CREATE)
        n.write_local(upsert(1, 2))
    assert a.engine.digest() == b.engine.digest()
    b.write_local({"op": "set_payload", "collection": "docs", "payload": {"x": 1}, "points": [1]})
    assert a.engine.digest()["docs"]["sha256"] != b.engine.digest()["docs"]["sha256"]


def wire(*entries):
    return [{"origin": e.origin, "seq": e.seq, "ts": e.ts, "op": e.op} for e in entries]


def payload_of(n, pid):
    found = n.engine.retrieve("docs", [pid], True, False)
    return found[0]["payload"] if found else None


def test_concurrent_writes_to_one_point_converge_to_the_newest(tmp_path):
    """A partition: both nodes write point 1; after the heal each applies the other's write
    in the opposite order, and both keep the newer one (last writer wins)."""
    a, b = node(tmp_path, "a"), node(tmp_path, "b")
    e0, _ = a.write_local(CREATE)
    b.receive("a:1", wire(e0))
    ea, _ = a.write_local({"op": "upsert", "collection": "docs", "points": [
        {"id": 1, "vector": [1, 0], "payload": {"v": "from a"}}, {"id": 2, "vector": [1, 0], "payload": {"v": "a only"}}]})
    eb, _ = b.write_local({"op": "upsert", "collection": "docs", "points": [
        {"id": 1, "vector": [0, 1], "payload": {"v": "from b"}}]})
    assert eb.ts > ea.ts
    a.receive("b:1", wire(eb))  # a: its own older write, then b's newer one
    b.receive("a:1", wire(ea))  # b: its own newer write, then a's older one (skipped for point 1)
    assert payload_of(a, 1) == payload_of(b, 1) == {"v": "from b"}
    assert payload_of(b, 2) == {"v": "a only"}  # the rest of the older operation still applies
    assert a.engine.digest() == b.engine.digest()


def test_a_delete_is_not_undone_by_an_older_write(tmp_path):
    a, b = node(tmp_path, "a"), node(tmp_path, "b")
    e0, _ = a.write_local(CREATE)
    e1, _ = a.write_local(upsert(1, 2, 3))
    b.receive("a:1", wire(e0, e1))
    ea, _ = a.write_local({"op": "set_payload", "collection": "docs", "payload": {"x": 1}, "points": [1]})
    eb, _ = b.write_local({"op": "delete_points", "collection": "docs", "points": [1]})
    a.receive("b:1", wire(eb))
    b.receive("a:1", wire(ea))
    assert payload_of(a, 1) is None and payload_of(b, 1) is None
    assert a.engine.digest() == b.engine.digest()


def test_filter_writes_replicate_their_effect_not_the_filter(tmp_path):
    a, b = node(tmp_path, "a"), node(tmp_path, "b")
    e0, _ = a.write_local(CREATE)
    e1, _ = a.write_local(upsert(1, 2))
    b.receive("a:1", wire(e0, e1))
    eb, _ = b.write_local(upsert(3))  # made on b during a partition; a does not know it
    ea, _ = a.write_local({"op": "delete_points", "collection": "docs",
                           "filter": {"must": [{"key": "acl_groups", "match": {"value": "eng"}}]}})
    assert "filter" not in ea.op and sorted(ea.op["points"]) == [1, 2]
    a.receive("b:1", wire(eb))
    b.receive("a:1", wire(ea))
    assert count(a.engine) == count(b.engine) == 1  # point 3 survives on both
    assert a.engine.digest() == b.engine.digest()


def test_a_lagging_clock_still_lets_local_writes_win(tmp_path, monkeypatch):
    a, b = node(tmp_path, "a"), node(tmp_path, "b")
    e0, _ = a.write_local(CREATE)
    b.receive("a:1", wire(e0))
    import time as _time

    real = _time.time
    e1, _ = a.write_local(upsert(1))
    monkeypatch.setattr("system.vectordb.node.time.time", lambda: real() - 3600)  # b's clock is an hour late
    b.receive("a:1", wire(e1))
    eb, _ = b.write_local({"op": "set_payload", "collection": "docs", "payload": {"late": True}, "points": [1]})
    assert eb.ts > e1.ts and payload_of(b, 1)["late"] is True


def test_a_node_that_lost_its_log_tail_gets_it_back_from_the_peer(tmp_path):
    a, b = node(tmp_path, "a", peer="http://peer"), node(tmp_path, "b")
    e1, _ = b.write_local(CREATE)
    e2, _ = b.write_local(upsert(1, 2))
    a.receive("b:1", wire(e1, e2))
    # b crashes; the OS never wrote its last entry: it comes back with e1 only, same origin.
    b.oplog.close()
    (tmp_path / "b.jsonl").write_bytes(e1.line + b"\n")
    log = OpLog(tmp_path / "b.jsonl")
    b2 = Node(Engine(tmp_path / "b2-shards"), log, node_id="b", origin="b:1")
    b2.apply_budget_s = 60.0
    b2.replay(log.load())
    a.peers[0]._learn(b2.handshake())
    batch = a.peers[0]._batch()
    assert [(e.origin, e.seq) for e in batch] == [("b:1", 2)]
    assert b2.receive("a:1", wire(*batch))["watermarks"]["b:1"] == 2
    assert count(b2.engine) == 2
    entry, _ = b2.write_local(upsert(3))
    assert entry.seq == 3  # no second, different operation numbered b:1#2


def test_apply_budget_returns_early_and_the_rest_follows(tmp_path):
    a, b = node(tmp_path, "a"), node(tmp_path, "b")
    entries = [a.write_local(CREATE)[0]] + [a.write_local(upsert(i))[0] for i in range(1, 30)]
    b.apply_budget_s = 0.0  # one entry per request
    rounds = 0
    while b.oplog.watermarks.get("a:1", 0) < 30:
        b.receive("a:1", wire(*entries))
        rounds += 1
    assert rounds == 30 and count(b.engine) == 29


def test_each_peer_has_its_own_cursor_and_any_one_ack_is_a_second_copy(tmp_path):
    async def scenario():
        e = Engine(tmp_path / "m-shards")
        log = OpLog(None)
        log.load()
        a = Node(e, log, node_id="a", origin="a:1", peers=["http://b/", "http://c", "http://b"])
        a.apply_budget_s = 60.0
        a.consistency_timeout_s = 0.5
        assert [p.url for p in a.peers] == ["http://b", "http://c"]  # trailing slash and duplicates dropped
        b, c = a.peers
        for op in (CREATE, upsert(1), upsert(2)):
            a.write_local(op)
        b._learn({"origin": "b:1", "watermarks": {"a:1": 3}})
        c._learn({"origin": "c:1", "watermarks": {"a:1": 1}})
        assert b._batch() == [] and [x.seq for x in c._batch()] == [2, 3]
        s = a.status()
        assert [(p["url"], p["lag_ops"], p["acked_seq"]) for p in s["peers"]] == [("http://b", 0, 3), ("http://c", 2, 1)]
        assert s["lag_ops"] == 2 and s["peer_acked_seq"] == 1
        # An entry b sent us is never shipped back to b, but c still gets it (forwarded).
        a.receive("b:1", wire(Entry.make("b:1", 1, 1.0, upsert(5))))
        assert b._batch() == [] and [(x.origin, x.seq) for x in c._batch()] == [("a:1", 2), ("a:1", 3), ("b:1", 1)]
        # Consistency 2: c never answers; b's ack alone is the second copy.
        waiting = asyncio.create_task(a.write(upsert(3), consistency=2))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        b._learn({"origin": "b:1", "watermarks": {"a:1": 4, "b:1": 1}})
        entry, _ = await waiting
        assert entry.seq == 4
        e.close()

    asyncio.run(scenario())


def test_peers_setting_replaces_peer_url():
    from pydantic import ValidationError

    from system.vectordb.settings import Settings

    assert Settings(peers=" http://b:8000/, http://c:8000 ,,http://b:8000").peer_urls == ["http://b:8000", "http://c:8000"]
    assert Settings().peer_urls == []
    with pytest.raises(ValidationError, match="PEERS"):
        Settings(peer_url="http://b:8000")
