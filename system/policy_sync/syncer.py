"""The sync loop: snapshot, resync OPA, watch from the next revision, repeat after any break.

    connect ─> snapshot at revision R ─> make OPA equal to it ─> watch from R+1 ─┐
       ^                                                                          │
       └──── etcd error, silent etcd (heartbeat), compacted watch ────────────────┘

OPA keeps serving what it has while etcd is away; every `verify_interval_s` the loaded set
is compared with OPA's (an OPA restart empties it) and put back from memory.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

from system.policy_sync.opa import OpaRejected, OpaUnavailable, as_loaded
from system.policy_sync.source import Batch, Entry, Event, WatchCompacted

log = logging.getLogger(__name__)


class Source(Protocol):
    def snapshot(self) -> tuple[int, dict[str, Entry]]: ...
    def watch(self, start_revision: int, callback: Callable[[object], None]) -> Callable[[], None]: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


class Opa(Protocol):
    def put(self, policy_id: str, rego: str) -> None: ...
    def delete(self, policy_id: str) -> None: ...
    def list(self) -> dict[str, str]: ...


class PolicySync:
    """Keeps one OPA equal to etcd's policy prefix; `status()` says how far it got.

        sync = PolicySync(lambda: EtcdSource("127.0.0.1:2379"), OpaPolicies("http://127.0.0.1:8181"))
        sync.start(); ...; sync.status()["revision"]; sync.stop()
    """

    def __init__(self, source_factory: Callable[[], Source], opa: Opa, *, heartbeat_s: float = 1.0,
                 verify_interval_s: float = 5.0, backoff_min_s: float = 0.2, backoff_max_s: float = 3.0,
                 resync_interval_s: float = 0.0) -> None:
        self.source_factory = source_factory
        self.opa = opa
        self.heartbeat_s = heartbeat_s
        self.verify_interval_s = verify_interval_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.resync_interval_s = resync_interval_s
        self._snapshot_revision = 0  # events up to it are covered by the last full resync
        self._last_resync = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.synced = threading.Event()
        # What OPA has loaded: id -> (mod revision, Rego). `revision`: every change up to it is loaded.
        self.loaded: dict[str, tuple[int, str]] = {}
        self.revision = 0
        # The newest policy revision the watch has delivered, and since when the loaded
        # revision trails it (None: caught up): the lag that /metrics reports.
        self.received_revision = 0
        self._behind_since: float | None = None
        self.errors: dict[str, dict] = {}
        self.etcd_connected = False
        self.resyncs = 0
        self.compactions = 0
        self.events_applied = 0
        self.events_superseded = 0  # applied by loading a newer version of the same policy
        self.last_error: str | None = None
        self._last_verify = time.monotonic()
        self._wakeup: Callable[[], None] = lambda: None  # ends the loop's wait for the watch early

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="policy-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def status(self) -> dict:
        with self._lock:
            return {"revision": self.revision, "synced": self.synced.is_set(), "etcd_connected": self.etcd_connected,
                    "policies": {pid: rev for pid, (rev, _) in sorted(self.loaded.items())},
                    "errors": dict(self.errors), "resyncs": self.resyncs, "compactions": self.compactions,
                    "events_applied": self.events_applied,
                    "events_superseded": self.events_superseded, "last_error": self.last_error,
                    "received_revision": self.received_revision, "lag": self._lag()}

    def _lag(self) -> dict:
        behind = self._behind_since
        return {"revisions": max(0, self.received_revision - self.revision),
                "seconds": 0.0 if behind is None else round(time.monotonic() - behind, 6)}

    # ------------------------------------------------------------ the loop

    def run(self) -> None:
        delay = self.backoff_min_s
        while not self._stop.is_set():
            source = None
            try:
                source = self.source_factory()
                self.resync(source)
                self._follow(source)
                delay = self.backoff_min_s
            except WatchCompacted as exc:
                self.compactions += 1
                log.warning("policy_sync: watch from revision %d compacted (%s): full resync", self.revision + 1, exc)
            except Exception as exc:  # noqa: BLE001 - any etcd failure: reconnect and resync
                self.etcd_connected = False
                self.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
                log.warning("policy_sync: etcd lost (%s); OPA keeps revision %d; retrying in %.1f s",
                            self.last_error, self.revision, delay)
                self._idle(delay)
                delay = min(delay * 2, self.backoff_max_s)
            finally:
                if source is not None:
                    try:
                        source.close()
                    except Exception:  # noqa: BLE001
                        pass

    def _follow(self, source: Source) -> None:
        q: queue.Queue = queue.Queue()

        def received(item) -> None:  # on the watch's thread, before the loop applies it
            if isinstance(item, Batch):
                newest = max((ev.mod_revision for ev in item.events), default=0)
                with self._lock:
                    self.received_revision = max(self.received_revision, newest)
                    if self._behind_since is None and newest > self.revision:
                        self._behind_since = time.monotonic()
            q.put(item)

        source.watch(self.revision + 1, received)
        self._wakeup = lambda: q.put(None)
        self.etcd_connected = True
        self.last_error = None
        while not self._stop.is_set():
            try:
                item = q.get(timeout=self.heartbeat_s)  # None: woken up, to verify at once
            except queue.Empty:
                source.ping()  # a paused or partitioned etcd never ends the watch stream itself
                item = None
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Batch):
                batch, failure = _coalesce(item, q)
                self.apply(batch)
                if failure is not None:
                    raise failure
                with self._lock:
                    if self.revision >= self.received_revision:
                        self._behind_since = None
            if self.resync_interval_s and time.monotonic() - self._last_resync >= self.resync_interval_s:
                self.resync(source, periodic=True)  # a belt to the watch's braces; the watch goes on
            self._maybe_verify()

    def _idle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < end:
            self._maybe_verify()
            self._stop.wait(min(0.2, max(0.0, end - time.monotonic())))

    # ------------------------------------------------------------ applying

    def resync(self, source: Source, periodic: bool = False) -> None:
        revision, entries = source.snapshot()
        in_opa = self._opa(self.opa.list)
        for pid, entry in sorted(entries.items()):
            if in_opa.get(pid) == as_loaded(pid, entry.value):
                with self._lock:
                    self.loaded[pid] = (entry.mod_revision, entry.value)
                    self.errors.pop(pid, None)
            else:
                self._put(pid, entry.value, entry.mod_revision)
        for pid in sorted(set(in_opa) - set(entries)):
            self._delete(pid, revision)
        with self._lock:
            for pid in set(self.loaded) - set(entries):
                del self.loaded[pid]
            # a periodic resync races the watch, which may already be past the snapshot
            self.revision = max(self.revision, revision) if periodic else revision
            self._snapshot_revision = revision
            self.resyncs += 1
            if self.revision >= self.received_revision:
                self._behind_since = None
        self._last_resync = time.monotonic()
        self.synced.set()
        log.info("policy_sync: resynced %d policies at revision %d", len(entries), revision)

    def apply(self, batch: Batch) -> None:
        """Load a batch's events in revision order, only the last one per policy: OPA compiles
        every loaded module on each PUT, so a superseded version would cost a whole compile and
        change nothing OPA ends with. If OPA refuses that last version, the newest earlier one
        it accepts is loaded, which is where applying them one by one would have left it."""
        versions: dict[str, list[Event]] = {}
        for ev in batch.events:
            if ev.mod_revision > self._snapshot_revision:  # older ones are in the last resync
                versions.setdefault(ev.id, []).append(ev)
        for evs in sorted(versions.values(), key=lambda evs: evs[-1].mod_revision):
            if not self._load(evs[-1]):
                self._load_older(evs[:-1])
            with self._lock:
                self.events_applied += len(evs)
                self.events_superseded += len(evs) - 1
        # Only now: mid-batch, a policy whose last version comes later may still lack an
        # earlier one, and `revision` promises every change up to it is loaded.
        with self._lock:  # every event is loaded or superseded; an empty batch is a progress notice
            newest = max((ev.mod_revision for ev in batch.events), default=batch.header_revision)
            self.revision = max(self.revision, newest)

    def _load(self, ev: Event) -> bool:
        if ev.kind == "put":
            return self._put(ev.id, ev.value, ev.mod_revision)
        return self._delete(ev.id, ev.mod_revision)

    def _load_older(self, evs: list[Event]) -> None:
        refused = dict(self.errors.get(evs[0].id, {})) if evs else {}
        for ev in reversed(evs):
            if self._load(ev):
                break
        if refused:  # the newest version's refusal is the one to report
            with self._lock:
                self.errors[evs[0].id] = refused

    def _put(self, pid: str, rego: str, revision: int) -> bool:
        try:
            self._opa(lambda: self.opa.put(pid, rego))
        except OpaRejected as exc:
            log.error("policy_sync: OPA refused %s at revision %d: %s", pid, revision, exc)
            with self._lock:
                self.errors[pid] = {"revision": revision, "message": str(exc)}
            return False
        with self._lock:
            self.loaded[pid] = (revision, as_loaded(pid, rego))
            self.errors.pop(pid, None)
        return True

    def _delete(self, pid: str, revision: int) -> bool:
        try:
            self._opa(lambda: self.opa.delete(pid))
        except OpaRejected as exc:
            with self._lock:
                self.errors[pid] = {"revision": revision, "message": str(exc)}
            return False
        with self._lock:
            self.loaded.pop(pid, None)
            self.errors.pop(pid, None)
        return True

    def _opa(self, fn):
        """Call OPA until it answers: an event is never skipped because OPA was away."""
        delay = self.backoff_min_s
        while True:
            try:
                return fn()
            except OpaUnavailable as exc:
                if self._stop.is_set():
                    raise
                self.last_error = f"OPA: {exc}"
                log.warning("policy_sync: OPA unavailable (%s); retrying in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max_s)

    def _maybe_verify(self) -> None:
        if time.monotonic() - self._last_verify < self.verify_interval_s:
            return
        self._last_verify = time.monotonic()
        try:
            in_opa = self.opa.list()
        except OpaUnavailable:
            return
        with self._lock:
            missing = {pid: rego for pid, (_, rego) in self.loaded.items() if in_opa.get(pid) != rego}
        for pid, rego in missing.items():
            log.warning("policy_sync: OPA lost %s (restarted?); putting it back", pid)
            try:
                self.opa.put(pid, rego)
            except (OpaUnavailable, OpaRejected) as exc:
                log.warning("policy_sync: could not restore %s: %s", pid, exc)


def _coalesce(first: Batch, q: queue.Queue) -> tuple[Batch, BaseException | None]:
    """`first` and every batch already waiting behind it, as one; and the watch's failure if
    one is queued behind them (raised once they are applied). While OPA compiles one update,
    the next ones queue here, so a burst costs a compile per policy, not per event."""
    events, header = list(first.events), first.header_revision
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return Batch(events, header), None
        if isinstance(item, BaseException):
            return Batch(events, header), item
        events.extend(item.events)
        header = max(header, item.header_revision)
