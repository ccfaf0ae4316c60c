"""The etcd side of policy_sync: a snapshot of the prefix and a watch from a revision, on one
member of the cluster at a time (FailoverSources picks it)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc

from system.common.etcd import EtcdTls, connect, etcd3
from system.common.settings import split_endpoints

log = logging.getLogger(__name__)
etcdrpc = etcd3.etcdrpc
_DELETE = 1  # mvccpb.Event.DELETE


@dataclass(frozen=True)
class Entry:
    value: str
    mod_revision: int


@dataclass(frozen=True)
class Event:
    kind: str  # "put" | "delete"
    id: str
    value: str | None
    mod_revision: int


@dataclass(frozen=True)
class Batch:
    """One watch response: its events (maybe none: a progress notification) and the header revision."""

    events: list[Event]
    header_revision: int


class WatchCompacted(Exception):
    """The watch's start revision is compacted: only a full resync can catch up."""

    def __init__(self, compacted_revision: int) -> None:
        super().__init__(f"revision compacted up to {compacted_revision}")
        self.compacted_revision = compacted_revision


class EtcdSource:
    """One connection to etcd: `snapshot()` the prefix, `watch()` it from a revision.

    The watch callback receives `Batch`es, or an exception (`WatchCompacted`, a gRPC error)
    when the watch ends. A new `EtcdSource` per connection: closing one also stops the
    etcd3 watcher thread bound to its channel.

        src = EtcdSource("127.0.0.1:2379")
        revision, entries = src.snapshot()
        cancel = src.watch(revision + 1, print)
    """

    def __init__(self, endpoint: str, prefix: str = "/policies/", timeout: float = 2.0,
                 tls: EtcdTls | None = None) -> None:
        self.prefix = prefix
        self._client = connect(endpoint, timeout=timeout, tls=tls)
        self._cancels: list[Callable[[], None]] = []

    def _id(self, key: bytes) -> str:
        return key.decode("utf-8")[len(self.prefix):]

    def snapshot(self) -> tuple[int, dict[str, Entry]]:
        resp = self._client.get_prefix_response(self.prefix)
        return resp.header.revision, {self._id(kv.key): Entry(kv.value.decode("utf-8"), kv.mod_revision)
                                      for kv in resp.kvs}

    def watch(self, start_revision: int, callback: Callable[[object], None]) -> Callable[[], None]:
        """Stream the prefix's events from `start_revision` to `callback` (in a thread of its own).

        etcd3's own Watcher re-opens a failed stream forever in a hot loop; this uses the
        gRPC stub directly, so a broken stream is reported once and the thread ends.
        """
        prefix = self.prefix.encode("utf-8")
        requests: queue.Queue = queue.Queue()
        requests.put(etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(
            key=prefix, range_end=etcd3.utils.increment_last_byte(prefix), start_revision=start_revision,
            progress_notify=True)))
        stopped = threading.Event()

        def request_iter():
            while True:
                rq = requests.get()
                if rq is None:
                    return
                yield rq

        call = etcdrpc.WatchStub(self._client.channel).Watch(request_iter(), metadata=self._client.metadata)

        def pump() -> None:
            try:
                for rs in call:
                    if rs.compact_revision:
                        callback(WatchCompacted(rs.compact_revision))
                        return
                    if rs.canceled:
                        callback(RuntimeError(f"etcd canceled the watch: {rs.cancel_reason or 'no reason'}"))
                        return
                    if rs.created and not rs.events:
                        continue
                    events = [Event("delete" if ev.type == _DELETE else "put", self._id(ev.kv.key),
                                    None if ev.type == _DELETE else ev.kv.value.decode("utf-8"), ev.kv.mod_revision)
                              for ev in rs.events]
                    callback(Batch(events, rs.header.revision))
                if not stopped.is_set():
                    callback(ConnectionError("etcd ended the watch stream"))
            except grpc.RpcError as exc:
                if not stopped.is_set():
                    callback(exc)
            except Exception as exc:  # noqa: BLE001 - reported to the sync loop, which reconnects
                if not stopped.is_set():
                    callback(exc)

        def cancel() -> None:
            stopped.set()
            requests.put(None)
            call.cancel()

        self._cancels.append(cancel)
        threading.Thread(target=pump, name="policy-sync-watch", daemon=True).start()
        return cancel

    def ping(self) -> None:
        self._client.status()

    def has_leader(self) -> bool:
        """Whether this member knows a leader (its own Status, answered without quorum)."""
        c = self._client
        resp = c.maintenancestub.Status(etcdrpc.StatusRequest(), c.timeout, credentials=c.call_credentials,
                                        metadata=c.metadata)
        return resp.leader != 0

    def close(self) -> None:
        for cancel in self._cancels:
            cancel()
        self._client.close()


class FailoverSources:
    """policy_sync's source factory over every etcd member, the local one first.

    Each call (the first connect, then one after every break of the watch) opens a source
    on the current member or, when that one does not answer, on the next one; the sync loop
    then does its full resync there, as after any reconnect. A member that answers but has
    no leader (rejoining, or cut off from the majority) is passed over for one that has;
    when none has, the first that answers is used, as with a single member. The member
    found stays current: nothing steers back to the local one later (etcd's clients do not
    either); the next break starts from it.

        sync = PolicySync(FailoverSources("etcd2:2379,etcd1:2379"), opa)
    """

    def __init__(self, endpoints: str | Sequence[str], prefix: str = "/policies/", timeout: float = 2.0,
                 source: Callable[[str, str, float], EtcdSource] | None = None, tls: EtcdTls | None = None) -> None:
        self.endpoints = split_endpoints(endpoints)
        self.prefix, self.timeout = prefix, timeout
        self._source = source or (lambda endpoint, prefix, timeout: EtcdSource(endpoint, prefix, timeout, tls))
        self.current = 0

    def __call__(self) -> EtcdSource:
        fallback: tuple[int, EtcdSource] | None = None
        error: Exception | None = None
        for step in range(len(self.endpoints)):
            index = (self.current + step) % len(self.endpoints)
            src = self._source(self.endpoints[index], self.prefix, self.timeout)
            try:
                leader = src.has_leader()
            except Exception as exc:  # noqa: BLE001 - this member does not answer: try the next
                _close(src)
                error = exc
                continue
            if leader:
                if fallback is not None:
                    _close(fallback[1])
                return self._chosen(index, src)
            if fallback is None:
                fallback = index, src
            else:
                _close(src)
        if fallback is None:
            raise error or ConnectionError("no etcd member answered")
        return self._chosen(fallback[0], fallback[1])

    def _chosen(self, index: int, src: EtcdSource) -> EtcdSource:
        if index != self.current:
            log.warning("policy_sync: etcd member %s instead of %s", self.endpoints[index], self.endpoints[self.current])
        self.current = index
        return src


def _close(src) -> None:
    try:
        src.close()
    except Exception:  # noqa: BLE001 - closing a broken channel may fail too
        pass
