"""Every member of one etcd cluster behind one client, failing over as etcd's own clients do.

Production etcd clients are given every endpoint: a service that knows only its local member
fails for as long as that member is down or rejoining. Requests go to the current member;
when it cannot be reached, the request moves to the next member within the caller's own
deadline, and that member stays current. Nothing steers back to the first member later
(clientv3 does not either), so a service ends up on a remote member until that one fails.

Unlike clientv3 (3.4+), which spreads requests round-robin over all members, one member is
used at a time: here the first is the service's own DC's, and the others are across the WAN.

    members = Members("etcd2:2379,etcd1:2379", timeout=5.0)
    resp = members.call(lambda c, t: c.kvstub.Range(request, t), 5.0, fail_over=lambda exc: False)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from grpc._cython import cygrpc

from system.common.etcd import EtcdTls, connect
from system.common.settings import split_endpoints

_READY = cygrpc.ConnectivityState.ready
_FAILED = (cygrpc.ConnectivityState.transient_failure, cygrpc.ConnectivityState.shutdown)


class Unreachable(Exception):
    """No connection to the member within the wait: nothing was sent to it."""

    def __init__(self, endpoint: str, why: str) -> None:
        super().__init__(f"{endpoint}: {why}")
        self.endpoint = endpoint


def wait_ready(channel: grpc.Channel, timeout: float, endpoint: str = "etcd") -> None:
    """Return once `channel` is connected; raise Unreachable when it fails to connect
    (refused: at once) or is not connected within `timeout` (a blackholed or paused host).

    Waiting for the connection apart from the request is what makes a timeout here proof
    that nothing was sent: a request that times out after it was sent may still apply.
    This polls the channel in the caller's thread (gRPC's private Cython channel, as its own
    `subscribe` does): `subscribe`'s polling thread outlives `unsubscribe` by up to 0.2 s and
    raises in the background when the client is closed meanwhile, which every failover does."""
    deadline = time.time() + max(0.0, timeout)  # gRPC's watch takes wall-clock deadlines
    cy = channel._channel
    try:
        state = cy.check_connectivity_state(True)
        while state != _READY:
            if state in _FAILED:
                raise Unreachable(endpoint, "connection failed")
            if not cy.watch_connectivity_state(state, deadline).success:
                raise Unreachable(endpoint, f"no connection within {timeout:.2f} s")
            state = cy.check_connectivity_state(False)
    except ValueError as exc:  # closed: another request dropped this client, nothing was sent
        raise Unreachable(endpoint, str(exc)) from exc


class Members:
    """One etcd3 client at a time, on the current member; thread-safe.

    After any error the client is dropped, so the next request connects afresh instead of
    waiting out gRPC's reconnect backoff; it moves to the next member only when the error
    says this member could not take the request (Unreachable, or what `fail_over` accepts).
    """

    def __init__(self, endpoints: str | Sequence[str], timeout: float = 5.0, tls: EtcdTls | None = None) -> None:
        self.endpoints = split_endpoints(endpoints)
        self.timeout = timeout
        self.tls = tls
        self._lock = threading.Lock()
        self._index = 0
        self._client = None

    @property
    def current(self) -> str:
        return self.endpoints[self._index]

    def _pin(self) -> tuple[int, Any]:
        with self._lock:
            if self._client is None:
                self._client = connect(self.endpoints[self._index], timeout=self.timeout, tls=self.tls)
            return self._index, self._client

    def _drop(self, index: int, move_on: bool) -> None:
        with self._lock:
            if index != self._index:
                return  # another request already moved on from that member
            client, self._client = self._client, None
            if move_on:
                self._index = (index + 1) % len(self.endpoints)
        _close(client)

    def call(self, fn: Callable[[Any, float], Any], timeout: float, *,
             fail_over: Callable[[grpc.RpcError], bool]) -> Any:
        """`fn(client, seconds_left)` on the current member, then on the next ones while the
        member could not take it, each member at most once, all within `timeout`.

        Raises Unreachable (nothing was sent anywhere) or the last member's grpc.RpcError."""
        deadline = time.monotonic() + timeout
        passed: list[str] = []  # the members left behind and why, noted on the error raised
        for attempt in range(len(self.endpoints)):
            index, client = self._pin()
            endpoint = self.endpoints[index]
            left = len(self.endpoints) - attempt
            try:
                # Connecting gets this member's share of what is left; a connected channel costs nothing.
                wait_ready(client.channel, (deadline - time.monotonic()) / left, endpoint)
                return fn(client, max(0.0, deadline - time.monotonic()))
            except Unreachable as exc:
                self._drop(index, move_on=True)
                if left == 1 or time.monotonic() >= deadline:
                    _note(exc, passed)
                    raise
                passed.append(str(exc))
            except grpc.RpcError as exc:
                move_on = fail_over(exc)
                self._drop(index, move_on)
                if not move_on or left == 1 or time.monotonic() >= deadline:
                    _note(exc, passed)
                    raise
                passed.append(f"{endpoint}: {_describe(exc)}")
            except Exception:
                self._drop(index, move_on=False)
                raise
        raise AssertionError("the last attempt returns or raises")

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        _close(client)


def _describe(exc: grpc.RpcError) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    return f"{getattr(code, 'name', code)}: {exc.details() if hasattr(exc, 'details') else exc}"


def _note(exc: BaseException, passed: list[str]) -> None:
    if passed:
        exc.add_note("after " + "; ".join(passed))


def _close(client) -> None:
    if client is not None:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - closing a broken channel may fail too
            pass
