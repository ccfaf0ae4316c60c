"""policy_sync's loop against an in-memory etcd (with history and compaction) and OPA."""

from __future__ import annotations

import threading
import time

import pytest

from harness.waiting import eventually
from system.policy_sync.opa import OpaRejected, OpaUnavailable
from system.policy_sync.source import Batch, Entry, Event, WatchCompacted
from system.policy_sync.syncer import PolicySync


class FakeEtcd:
    def __init__(self) -> None:
        self.kv: dict[str, Entry] = {}
        self.revision = 1
        self.history: list[Event] = []
        self.compacted = 0
        self.down = False
        self.watchers: list = []
        self.lock = threading.Lock()

    def put(self, pid, value):
        with self.lock:
            self.revision += 1
            self.kv[pid] = Entry(value, self.revision)
            ev = Event("put", pid, value, self.revision)
            self.history.append(ev)
            watchers = list(self.watchers)
        for w in watchers:
            w(Batch([ev], ev.mod_revision))

    def delete(self, pid):
        with self.lock:
            self.revision += 1
            self.kv.pop(pid, None)
            ev = Event("delete", pid, None, self.revision)
            self.history.append(ev)
            watchers = list(self.watchers)
        for w in watchers:
            w(Batch([ev], ev.mod_revision))

    def compact(self):
        self.compacted = self.revision

    def set_down(self, down: bool):
        self.down = down
        if down:
            for w in list(self.watchers):
                w(ConnectionError("fake etcd down"))
            self.watchers.clear()


class FakeSource:
    def __init__(self, etcd: FakeEtcd, on_snapshot=None) -> None:
        self.etcd = etcd
        self.on_snapshot = on_snapshot
        self.cb = None

    def _check(self):
        if self.etcd.down:
            raise ConnectionError("fake etcd down")

    def snapshot(self):
        self._check()
        snap = self.etcd.revision, dict(self.etcd.kv)
        if self.on_snapshot:
            self.on_snapshot()
        return snap

    def watch(self, start, cb):
        self._check()
        if start <= self.etcd.compacted:
            raise WatchCompacted(self.etcd.compacted)
        with self.etcd.lock:
            backlog = [e for e in self.etcd.history if e.mod_revision >= start]
            self.etcd.watchers.append(cb)
        self.cb = cb
        if backlog:
            cb(Batch(backlog, self.etcd.revision))
        return lambda: None

    def ping(self):
        self._check()

    def close(self):
        if self.cb in self.etcd.watchers:
            self.etcd.watchers.remove(self.cb)


class FakeOpa:
    def __init__(self) -> None:
        self.policies: dict[str, str] = {}
        self.down = False

    def _check(self):
        if self.down:
            raise OpaUnavailable("fake OPA down")

    def put(self, pid, rego):
        self._check()
        if "reject" in rego:
            raise OpaRejected("rego_compile_error: fake")
        self.policies[pid] = rego

    def delete(self, pid):
        self._check()
        self.policies.pop(pid, None)

    def list(self):
        self._check()
        return dict(self.policies)




@pytest.fixture
def env():
    etcd, opa = FakeEtcd(), FakeOpa()
    sources: list = []

    def factory():
        s = FakeSource(etcd, getattr(factory, "on_snapshot", None))
        sources.append(s)
        return s

    sync = PolicySync(factory, opa, heartbeat_s=0.05, verify_interval_s=0.1, backoff_min_s=0.02, backoff_max_s=0.1)
    yield etcd, opa, sync, factory
    sync.stop()


def test_initial_resync_puts_all_and_deletes_strays(env):
    etcd, opa, sync, _ = env
    etcd.put("a", "A1")
    etcd.put("b", "B1")
    opa.policies = {"stray": "S", "a": "old"}
    sync.start()
    eventually(lambda: sync.synced.is_set())
    assert opa.policies == {"a": "A1", "b": "B1"}
    assert sync.status()["revision"] == etcd.revision
    assert sync.status()["policies"] == {"a": 2, "b": 3}


def test_follows_puts_and_deletes(env):
    etcd, opa, sync, _ = env
    sync.start()
    eventually(lambda: sync.synced.is_set())
    etcd.put("a", "A1")
    etcd.put("a", "A2")
    etcd.delete("a")
    etcd.put("b", "B1")
    eventually(lambda: sync.status()["revision"] == etcd.revision)
    assert opa.policies == {"b": "B1"}
    assert sync.status()["events_applied"] == 4


def test_keeps_opa_while_etcd_is_down_and_resyncs_after(env):
    etcd, opa, sync, _ = env
    etcd.put("a", "A1")
    etcd.put("gone", "G")
    sync.start()
    eventually(lambda: sync.status()["revision"] == etcd.revision)
    etcd.set_down(True)
    eventually(lambda: not sync.status()["etcd_connected"])
    assert opa.policies == {"a": "A1", "gone": "G"}
    opa.policies.clear()  # OPA restarts while etcd is away: the sidecar puts back what it had
    eventually(lambda: opa.policies == {"a": "A1", "gone": "G"})
    etcd.down = False
    etcd.put("a", "A2")  # changes the sidecar did not see
    etcd.delete("gone")
    eventually(lambda: sync.status()["etcd_connected"] and sync.status()["revision"] == etcd.revision)
    assert opa.policies == {"a": "A2"}
    assert sync.status()["resyncs"] >= 2


def test_compacted_watch_triggers_a_full_resync(env):
    etcd, opa, sync, factory = env
    etcd.put("a", "A1")
    state = {"done": False}

    def change_and_compact():
        # between the snapshot and the watch: changes, then a compaction past them
        if not state["done"]:
            state["done"] = True
            etcd.put("a", "A2")
            etcd.put("b", "B1")
            etcd.compact()

    factory.on_snapshot = change_and_compact
    sync.start()
    eventually(lambda: sync.status()["compactions"] == 1 and sync.status()["revision"] == etcd.revision)
    assert opa.policies == {"a": "A2", "b": "B1"}


def test_rejected_policy_is_reported_and_the_old_one_kept(env):
    etcd, opa, sync, _ = env
    etcd.put("a", "A1")
    sync.start()
    eventually(lambda: sync.synced.is_set())
    etcd.put("a", "reject me")
    eventually(lambda: sync.status()["revision"] == etcd.revision)
    st = sync.status()
    assert st["errors"]["a"]["revision"] == etcd.revision and opa.policies == {"a": "A1"}
    assert st["policies"]["a"] == 2


def test_opa_outage_delays_but_never_skips_an_event(env):
    etcd, opa, sync, _ = env
    sync.start()
    eventually(lambda: sync.synced.is_set())
    opa.down = True
    etcd.put("a", "A1")
    time.sleep(0.2)
    assert sync.status()["revision"] < etcd.revision
    opa.down = False
    eventually(lambda: sync.status()["revision"] == etcd.revision)
    assert opa.policies == {"a": "A1"}


def test_periodic_resync_never_goes_back_in_time(env):
    etcd, opa, sync, _ = env
    sync.resync_interval_s = 0.05
    etcd.put("a", "A1")
    sync.start()
    eventually(lambda: sync.synced.is_set())
    for i in range(30):
        etcd.put("a", f"A{i + 2}")
        time.sleep(0.005)
    etcd.delete("a")
    etcd.put("b", "B")
    eventually(lambda: sync.status()["revision"] == etcd.revision and sync.status()["resyncs"] >= 3)
    time.sleep(0.2)
    assert opa.policies == {"b": "B"}
    assert sync.status()["revision"] == etcd.revision


def test_lag_is_reported_while_opa_is_away_and_clears_after(env):
    etcd, opa, sync, _ = env
    sync.start()
    eventually(lambda: sync.synced.is_set())
    assert sync.status()["lag"] == {"revisions": 0, "seconds": 0.0}
    opa.down = True
    etcd.put("a", "A1")
    eventually(lambda: sync.status()["lag"]["revisions"] == 1 and sync.status()["lag"]["seconds"] > 0.05)
    opa.down = False
    eventually(lambda: sync.status()["lag"] == {"revisions": 0, "seconds": 0.0})
    assert sync.status()["received_revision"] == sync.status()["revision"] == etcd.revision


def test_metrics_expose_the_loaded_revision_and_lag_with_fakes(env):
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from system.policy_sync.app import build_app

    etcd, opa, sync, _ = env
    etcd.put("a", "A1")
    with TestClient(build_app(sync=sync)) as client:
        eventually(lambda: sync.status()["revision"] == etcd.revision)
        opa.down = True
        etcd.put("b", "B1")
        eventually(lambda: sync.status()["lag"]["revisions"] == 1)
        text = client.get("/metrics").text
        opa.down = False
    families = list(text_string_to_metric_families(text))
    samples = {s.name: s.value for f in families for s in f.samples}
    assert samples["halab_policy_sync_revision"] == etcd.revision - 1
    assert samples["halab_policy_sync_received_revision"] == etcd.revision
    assert samples["halab_policy_sync_lag_revisions"] == 1
    assert samples["halab_policy_sync_lag_seconds"] > 0
    assert samples["halab_policy_sync_policies_loaded"] == 1
    # The shared HTTP and process metrics are there too.
    assert {"halab_http_requests", "process_cpu_seconds"} <= {f.name for f in families}


class CountingOpa(FakeOpa):
    """FakeOpa that counts PUTs and takes `compile_s` for each, as OPA's recompile does."""

    def __init__(self, compile_s: float = 0.0) -> None:
        super().__init__()
        self.puts: list[str] = []
        self.compile_s = compile_s

    def put(self, pid, rego):
        time.sleep(self.compile_s)
        super().put(pid, rego)
        self.puts.append(pid)


def test_a_batch_puts_only_the_last_version_of_each_policy_with_fakes() -> None:
    opa = CountingOpa()
    sync = PolicySync(lambda: None, opa)
    sync.apply(Batch([Event("put", "a", "A1", 2), Event("put", "b", "B1", 3), Event("put", "a", "A2", 4),
                      Event("delete", "c", None, 5), Event("put", "a", "A3", 6)], 6))
    assert opa.puts == ["b", "a"] and opa.policies == {"a": "A3", "b": "B1"}
    st = sync.status()
    assert st["revision"] == 6 and st["policies"] == {"a": 6, "b": 3}
    assert st["events_applied"] == 5 and st["events_superseded"] == 2


def test_a_refused_last_version_leaves_the_newest_accepted_one_with_fakes() -> None:
    """Where applying every event in turn would have left OPA, and the refusal reported."""
    opa = CountingOpa()
    sync = PolicySync(lambda: None, opa)
    sync.apply(Batch([Event("put", "a", "A1", 2), Event("put", "a", "A2", 3), Event("put", "a", "reject me", 4)], 4))
    st = sync.status()
    assert opa.policies == {"a": "A2"} and st["policies"] == {"a": 3}
    assert st["errors"]["a"]["revision"] == 4 and st["revision"] == 4


def test_a_burst_behind_a_slow_opa_is_coalesced_with_fakes() -> None:
    etcd, opa = FakeEtcd(), CountingOpa(compile_s=0.05)
    sync = PolicySync(lambda: FakeSource(etcd), opa, heartbeat_s=0.05)
    sync.start()
    try:
        eventually(lambda: sync.synced.is_set())
        for i in range(40):
            etcd.put("hot", f"H{i}")
        eventually(lambda: sync.status()["revision"] == etcd.revision, 10)
        assert opa.policies == {"hot": "H39"}
        assert len(opa.puts) < 10, f"{len(opa.puts)} PUTs for 40 events"
        assert sync.status()["events_superseded"] == 40 - len(opa.puts)
    finally:
        sync.stop()


# ------------------------------------------------------------ failover between members


class FakeMember:
    """One member of a cluster whose data is `etcd`: it can die, or answer without a leader."""

    def __init__(self, etcd: FakeEtcd) -> None:
        self.etcd, self.down, self.leader = etcd, False, True
        self.sources: list[MemberSource] = []

    def kill(self) -> None:
        self.down = True
        for s in self.sources:
            if s.cb in self.etcd.watchers:
                self.etcd.watchers.remove(s.cb)
                s.cb(ConnectionError("fake member killed"))


class MemberSource(FakeSource):
    def __init__(self, member: FakeMember) -> None:
        super().__init__(member.etcd)
        self.member = member
        member.sources.append(self)

    def _check(self):
        if self.member.down:
            raise ConnectionError("fake member down")

    def has_leader(self) -> bool:
        self._check()
        return self.member.leader


@pytest.fixture
def cluster():
    from system.policy_sync.source import FailoverSources

    etcd = FakeEtcd()
    members = {"etcd2:2389": FakeMember(etcd), "etcd1:2379": FakeMember(etcd)}
    sources = FailoverSources(",".join(members), source=lambda endpoint, prefix, timeout: MemberSource(members[endpoint]))
    return etcd, list(members.values()), sources


def test_a_dead_member_moves_the_watch_to_the_next_which_resyncs_with_fakes(cluster):
    etcd, (local, remote), sources = cluster
    opa = FakeOpa()
    etcd.put("a", "A1")
    sync = PolicySync(sources, opa, heartbeat_s=0.05, verify_interval_s=0.1, backoff_min_s=0.02, backoff_max_s=0.1)
    sync.start()
    try:
        eventually(lambda: sync.synced.is_set() and sync.status()["resyncs"] == 1)
        assert local.sources and not remote.sources
        local.kill()
        etcd.put("a", "A2")  # while no watch is open: only the resync on the next member sees it
        etcd.put("b", "B1")
        eventually(lambda: sync.status()["etcd_connected"] and sync.status()["revision"] == etcd.revision)
        assert opa.policies == {"a": "A2", "b": "B1"}
        assert sync.status()["resyncs"] == 2 and sources.current == 1 and remote.sources
        tried = len(local.sources)
        local.down = False  # back: the watch stays where it is, as etcd's clients do
        etcd.put("c", "C1")
        eventually(lambda: opa.policies.get("c") == "C1")
        assert len(local.sources) == tried and sources.current == 1
    finally:
        sync.stop()


def test_a_member_without_leader_is_passed_over_unless_none_has_one_with_fakes(cluster):
    _, (local, remote), sources = cluster
    local.leader = False
    assert sources().member is remote
    remote.down = True
    assert sources().member is local  # no member has a leader: the first that answers, as with one member
    local.down = True
    with pytest.raises(ConnectionError):
        sources()


def test_unreachable_members_raise_for_the_loop_to_retry_with_fakes() -> None:
    """The real EtcdSource against two refusing endpoints: an error, quickly."""
    import socket

    from system.policy_sync.source import FailoverSources

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    began = time.monotonic()
    with pytest.raises(Exception, match="UNAVAILABLE|failed to connect|Connection refused"):
        FailoverSources([f"127.0.0.1:{p}" for p in ports], timeout=2.0)()
    assert time.monotonic() - began < 2.0
