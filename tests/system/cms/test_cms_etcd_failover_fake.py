"""EtcdPolicies over several etcd members, against in-process fake members speaking etcd's
gRPC API (no Docker): where each request lands, and which errors move it to the next member."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent import futures

import grpc
import pytest

from harness.process import free_port
from system.cms.stores import EtcdPolicies, StoreUnavailable
from system.common.etcd import etcd3

rpc = etcd3.etcdrpc


class FakeMember(rpc.KVServicer, rpc.MaintenanceServicer):
    """One member on 127.0.0.1: `mode` is "ok", "hang" (answers after the client's
    deadline), or a gRPC UNAVAILABLE message such as "etcdserver: no leader"."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls: list[str] = []
        self.revision = 10
        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        rpc.add_KVServicer_to_server(self, self.server)
        rpc.add_MaintenanceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _answer(self, name: str, context) -> None:
        self.calls.append(name)
        if self.mode == "hang":
            time.sleep(1.5)
        elif self.mode != "ok":
            context.abort(grpc.StatusCode.UNAVAILABLE, self.mode)

    def Range(self, request, context):
        self._answer("Range", context)
        return rpc.RangeResponse(header=rpc.ResponseHeader(revision=self.revision))

    def Txn(self, request, context):
        self._answer("Txn", context)
        self.revision += 1
        return rpc.TxnResponse(succeeded=True, header=rpc.ResponseHeader(revision=self.revision))

    def Status(self, request, context):
        self._answer("Status", context)
        return rpc.StatusResponse(leader=1)


@pytest.fixture
def members():
    started = [FakeMember(), FakeMember()]
    yield started
    for m in started:
        m.server.stop(0)


@pytest.fixture
def dead() -> str:
    """An endpoint that refuses connections (a killed member)."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def silent():
    """An endpoint that accepts TCP but never answers (a paused member)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield f"127.0.0.1:{s.getsockname()[1]}"
    s.close()


def run(coro):
    return asyncio.run(coro)


def test_a_dead_first_member_sends_the_write_to_the_next_which_stays_current(members, dead):
    etcd = EtcdPolicies([dead, members[0].endpoint], timeout=2.0)
    try:
        assert run(etcd.put_if("a", "package a", 0)) == 11
        assert etcd.endpoint == members[0].endpoint
        run(etcd.get("a"))
        assert members[0].calls == ["Txn", "Range"]
    finally:
        etcd.close()


def test_a_silent_first_member_is_left_within_the_callers_deadline(members, silent):
    etcd = EtcdPolicies(f"{silent},{members[0].endpoint}", timeout=1.0)
    try:
        began = time.monotonic()
        assert run(etcd.put_if("a", "package a", 0)) == 11
        assert time.monotonic() - began < 1.0
        assert members[0].calls == ["Txn"]
    finally:
        etcd.close()


def test_a_member_without_leader_refuses_the_write_and_the_next_applies_it(members):
    first, second = members
    first.mode = "etcdserver: no leader"
    etcd = EtcdPolicies([first.endpoint, second.endpoint], timeout=2.0)
    try:
        assert run(etcd.put_if("a", "package a", 0)) == 11
        assert (first.calls, second.calls) == (["Txn"], ["Txn"])
    finally:
        etcd.close()


def test_a_write_whose_outcome_is_unknown_is_not_sent_to_another_member(members):
    first, second = members
    first.mode = "hang"
    etcd = EtcdPolicies([first.endpoint, second.endpoint], timeout=0.5)
    try:
        with pytest.raises(StoreUnavailable) as err:
            run(etcd.put_if("a", "package a", 0))
        assert err.value.applied is None and err.value.cause.startswith("DEADLINE_EXCEEDED")
        assert second.calls == [] and etcd.endpoint == first.endpoint
    finally:
        etcd.close()


@pytest.mark.parametrize("message", ["etcdserver: leader changed", "etcdserver: request timed out"])
def test_a_write_etcd_may_still_apply_stays_on_its_member(members, message):
    """UNAVAILABLE after the proposal: a retry elsewhere would fail its compare (a false conflict),
    and its outcome is unknown, not "not applied" (the CMS would roll back a write etcd may commit)."""
    first, second = members
    first.mode = message
    etcd = EtcdPolicies([first.endpoint, second.endpoint], timeout=2.0)
    try:
        with pytest.raises(StoreUnavailable, match=message) as err:
            run(etcd.delete_if("a", 5))
        assert err.value.applied is None
        assert second.calls == [] and etcd.endpoint == first.endpoint
    finally:
        etcd.close()


def test_reads_fail_over_on_any_unavailable(members):
    first, second = members
    first.mode = "etcdserver: no leader"
    etcd = EtcdPolicies([first.endpoint, second.endpoint], timeout=2.0)
    try:
        run(etcd.check_quorum(1.0))
        assert run(etcd.list()) == (10, {})
        assert (first.calls, second.calls) == (["Range"], ["Range", "Range"])
    finally:
        etcd.close()


def test_no_member_reachable_is_not_applied(dead, silent):
    etcd = EtcdPolicies([dead, silent], timeout=0.6)
    try:
        began = time.monotonic()
        with pytest.raises(StoreUnavailable) as err:
            run(etcd.put_if("a", "package a", 0))
        assert err.value.applied is False and err.value.cause.startswith("UNAVAILABLE")
        assert dead in err.value.cause and silent in err.value.cause  # both members, each with its failure
        assert time.monotonic() - began < 1.0
    finally:
        etcd.close()


def test_a_single_endpoint_string_still_works(members):
    etcd = EtcdPolicies(members[0].endpoint, timeout=2.0)
    try:
        run(etcd.ping())
        assert members[0].calls == ["Status"]
    finally:
        etcd.close()


def test_concurrent_failures_move_on_one_member_only(dead, members):
    etcd = EtcdPolicies([dead, members[0].endpoint, members[1].endpoint], timeout=2.0)
    try:
        threads = [threading.Thread(target=run, args=(etcd.get("a"),)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert etcd.endpoint == members[0].endpoint
        assert members[1].calls == []
    finally:
        etcd.close()
