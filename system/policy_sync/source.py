"""The etcd side of policy_sync: a snapshot of the prefix and a watch from a revision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from system.common.etcd import connect, etcd3


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

    def __init__(self, endpoint: str, prefix: str = "/policies/", timeout: float = 2.0) -> None:
        self.prefix = prefix
        self._client = connect(endpoint, timeout=timeout)

    def _id(self, key: bytes) -> str:
        return key.decode("utf-8")[len(self.prefix):]

    def snapshot(self) -> tuple[int, dict[str, Entry]]:
        resp = self._client.get_prefix_response(self.prefix)
        return resp.header.revision, {self._id(kv.key): Entry(kv.value.decode("utf-8"), kv.mod_revision)
                                      for kv in resp.kvs}

    def watch(self, start_revision: int, callback: Callable[[object], None]) -> Callable[[], None]:
        def on_response(resp) -> None:
            if isinstance(resp, etcd3.exceptions.RevisionCompactedError):
                callback(WatchCompacted(resp.compacted_revision))
            elif isinstance(resp, BaseException):
                callback(resp)
            else:
                events = []
                for ev in resp.events:
                    if isinstance(ev, etcd3.events.DeleteEvent):
                        events.append(Event("delete", self._id(ev.key), None, ev.mod_revision))
                    else:
                        events.append(Event("put", self._id(ev.key), ev.value.decode("utf-8"), ev.mod_revision))
                callback(Batch(events, resp.header.revision))

        try:
            watch_id = self._client.add_watch_prefix_callback(
                self.prefix, on_response, start_revision=start_revision, progress_notify=True)
        except etcd3.exceptions.RevisionCompactedError as exc:
            raise WatchCompacted(exc.compacted_revision) from exc
        return lambda: self._client.cancel_watch(watch_id)

    def ping(self) -> None:
        self._client.status()

    def close(self) -> None:
        # etcd3's watcher thread re-opens its stream forever; once the channel is closed
        # it would die on "Channel closed!". Make its next attempt end the thread quietly.
        watcher = getattr(self._client, "watcher", None)
        if watcher is not None:
            watcher._watch_stub = _EndWatcherThread()  # noqa: SLF001
        self._client.close()


class _EndWatcherThread:
    def Watch(self, *args, **kwargs):  # noqa: N802 - gRPC stub's spelling
        raise SystemExit  # threading ignores SystemExit: the thread just ends
