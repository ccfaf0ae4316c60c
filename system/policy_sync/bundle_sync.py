"""The sync loop's bundle mode: OPA pulls every policy as one bundle and compiles once per batch;
JSON documents (keys `data/<id>`) go through OPA's Data API, which compiles nothing.

    etcd watch ─> desired view ─> publish bundle (etag = revision) ─> OPA long-polls it,
                                                                       compiles once, activates
    OPA's status plugin ─> POST /opa/status ─> `revision` = what OPA activated
                                         └──> refusals: the refused version is swapped for the
                                              last one OPA accepted, and the bundle rebuilt

The snapshot, the watch, failover and lag are PolicySync's; what changes is how a view
reaches OPA. With `PUT /v1/policies`, ten distinct policies changed cost ten compiles of
every loaded module; here they cost one, because whatever changed while OPA compiled
is in the next bundle it takes.

A batch's documents are written before the bundle that covers the same revision is offered,
so when OPA activates that bundle, every change up to its revision, of either kind, is in.
A restarted OPA downloads the bundle itself; its documents are put back as soon as its
status report shows a new instance id (and every `verify_interval_s` regardless).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from system.policy_sync.bundle import Activation, Board, Bundle
from system.policy_sync.opa import OpaData, as_loaded, is_data
from system.policy_sync.source import Batch, Entry, Event
from system.policy_sync.syncer import PolicySync, Source

log = logging.getLogger(__name__)
_KEEP_SERVED = 16  # bundles OPA may still report on: it activates one while the next is published


class BundleSync(PolicySync):
    """Keeps one OPA's bundle equal to etcd's policy prefix; OPA reports what it activated.

        sync = BundleSync(lambda: EtcdSource("127.0.0.1:2379"))
        app serves sync.board at /opa/bundles/policies.tar.gz and feeds /opa/status to sync.on_status
    """

    def __init__(self, source_factory: Callable[[], Source], data: OpaData | None = None, **kwargs) -> None:
        super().__init__(source_factory, opa=data, **kwargs)  # type: ignore[arg-type]
        self.board = Board()
        self.desired: dict[str, Entry] = {}
        self.view_revision = 0  # every etcd change up to it is in `desired`
        self._first_snapshot = 0
        self._boot = uuid.uuid4().hex[:6]  # etags stay unique across a restart of policy_sync
        self._published = 0
        self._active_etag: str | None = None
        # etag -> (bundle, each policy's mod revision, the view revision the bundle covers)
        self._served: OrderedDict[str, tuple[Bundle, dict[str, int], int]] = OrderedDict()
        self._last_fetched: str | None = None
        self.activations = 0
        self.refusals = 0
        self.timers_ms: dict[str, float] = {}  # OPA's timers of the last activation (parse, compile, ...)
        self._opa_instance: str | None = None
        self._restore_data = False

    def status(self) -> dict:
        st = super().status()
        with self._lock:
            st["bundle"] = {"offered": self.board.current.etag if self.board.current else None,
                            "active": self._active_etag, "activations": self.activations,
                            "refusals": self.refusals, "opa_timers_ms": dict(self.timers_ms)}
        return st

    # ------------------------------------------------------------ etcd side

    def resync(self, source: Source, periodic: bool = False) -> None:
        revision, entries = source.snapshot()
        if periodic and revision <= self.view_revision:
            return  # the watch is already past this snapshot
        self._resync_data({pid: e for pid, e in entries.items() if is_data(pid)})
        with self._lock:
            self.desired = dict(entries)
            self.view_revision = revision
            self._snapshot_revision = revision
            if not self._first_snapshot:
                self._first_snapshot = revision
            self.resyncs += 1
            self._publish()
        self._last_resync = time.monotonic()
        log.info("policy_sync: snapshot of %d policies at revision %d offered to OPA", len(entries), revision)

    def apply(self, batch: Batch) -> None:
        events = [ev for ev in batch.events if ev.mod_revision > self._snapshot_revision]  # older: in the snapshot
        last: dict[str, Event] = {ev.id: ev for ev in events}
        for ev in sorted((ev for pid, ev in last.items() if is_data(pid)), key=lambda ev: ev.mod_revision):
            self._load_data(ev)  # before the bundle that covers this revision is offered
        with self._lock:
            seen: dict[str, int] = {}
            for ev in events:
                seen[ev.id] = seen.get(ev.id, 0) + 1
                if ev.kind == "put":
                    self.desired[ev.id] = Entry(ev.value or "", ev.mod_revision)
                else:
                    self.desired.pop(ev.id, None)
            self.events_applied += sum(seen.values())
            self.events_superseded += sum(n - 1 for n in seen.values())
            newest = max((ev.mod_revision for ev in batch.events), default=batch.header_revision)
            self.view_revision = max(self.view_revision, newest)
            self._publish()

    # ------------------------------------------------------------ documents (OPA's Data API)

    def _load_data(self, ev: Event) -> None:
        if self.opa is not None:
            self._load(ev)  # PolicySync's put or delete, through the Data API adapter

    def _resync_data(self, docs: dict[str, Entry]) -> None:
        """Make OPA's documents equal to the snapshot's: put what differs, delete what etcd lacks."""
        if self.opa is None:
            return
        in_opa = self._opa(self.opa.list)
        for pid, entry in sorted(docs.items()):
            if in_opa.get(pid) == as_loaded(pid, entry.value):  # not JSON: never equal, the put reports it
                with self._lock:
                    self.loaded[pid] = (entry.mod_revision, in_opa[pid])
                    self.errors.pop(pid, None)
            else:
                self._load_data(Event("put", pid, entry.value, entry.mod_revision))
        for pid in sorted(set(in_opa) - set(docs)):
            self._load_data(Event("delete", pid, None, 0))
        with self._lock:
            for pid in [p for p in self.loaded if is_data(p) and p not in docs]:
                del self.loaded[pid]

    def _maybe_verify(self) -> None:
        """Put back the documents a restarted OPA lost (its bundle it downloads itself): at once
        when its status report shows a new instance, else every `verify_interval_s`."""
        if self.opa is None:
            return
        now = time.monotonic()
        if not self._restore_data and now - self._last_verify < self.verify_interval_s:
            return
        self._restore_data, self._last_verify = False, now
        try:
            in_opa = self.opa.list()
        except Exception:  # noqa: BLE001 - OPA away: the next round tries again
            return
        with self._lock:
            missing = {pid: (rev, text) for pid, (rev, text) in self.loaded.items()
                       if is_data(pid) and in_opa.get(pid) != text}
        for pid, (rev, text) in sorted(missing.items()):
            log.warning("policy_sync: OPA lost document %s (restarted?); putting it back", pid)
            self._load_data(Event("put", pid, text, rev))

    # ------------------------------------------------------------ the bundle

    def _offered(self) -> tuple[dict[str, str], dict[str, int]]:
        """What OPA should hold: the desired view, with each refused version replaced by the
        last version OPA accepted (or left out, if it never accepted one)."""
        policies: dict[str, str] = {}
        revisions: dict[str, int] = {}
        for pid, entry in self.desired.items():
            if is_data(pid):
                continue
            refused = self.errors.get(pid)
            if refused is not None and refused.get("revision") == entry.mod_revision:
                if pid in self.loaded:
                    revisions[pid], policies[pid] = self.loaded[pid]
                continue
            policies[pid], revisions[pid] = entry.value, entry.mod_revision
        return policies, revisions

    def _publish(self) -> None:
        """Offer the current view (under the lock). Content OPA already has or is offered gets no
        new bundle (a compile for nothing); the view revision it covers moves on instead."""
        policies, revisions = self._offered()
        current = self.board.current
        if current is not None and current.policies == policies:
            bundle, _, _ = self._served[current.etag]
            self._served[current.etag] = (bundle, revisions, self.view_revision)
            self._advance_if_active(current.etag)
            return
        self._published += 1
        bundle = Bundle.of(policies, self.view_revision, f"{self._boot}{self._published}")
        self._served[bundle.etag] = (bundle, revisions, self.view_revision)
        while len(self._served) > _KEEP_SERVED:
            self._served.popitem(last=False)
        self.board.publish(bundle)

    def fetched(self, etag: str) -> None:
        """The web handler gave OPA this bundle: a failed activation reported next is its."""
        with self._lock:
            self._last_fetched = etag

    # ------------------------------------------------------------ OPA side

    def on_status(self, report: dict) -> None:
        """A status plugin report: record what OPA activated and what it refused."""
        activation = Activation.from_report(report)
        if activation is None:
            return
        instance = (report.get("labels") or {}).get("id")
        with self._lock:
            # A new OPA process has lost its documents: put them back now. The first report this
            # policy_sync sees counts too: its OPA may have restarted after the resync wrote them.
            restarted = bool(instance) and instance != self._opa_instance
            if instance:
                self._opa_instance = instance
            if restarted:
                self._restore_data = True
            self.timers_ms.update(activation.timers_ms)  # a report without an activation carries fewer timers
            if activation.active in self._served:
                self._activated(activation.active)
            if activation.failed and activation.errors:
                self._refused(activation)
        if restarted:
            self._wakeup()

    def _activated(self, etag: str) -> None:
        bundle, revisions, _ = self._served[etag]
        if etag != self._active_etag:
            self._active_etag = etag
            self.activations += 1
        self.loaded = {**{pid: v for pid, v in self.loaded.items() if is_data(pid)},
                       **{pid: (revisions[pid], rego) for pid, rego in bundle.policies.items()}}
        for pid in [p for p in self.errors if not is_data(p)]:  # a refusal stands while its version is wanted and not loaded
            refused = self.errors[pid].get("revision")
            entry = self.desired.get(pid)
            if entry is None or entry.mod_revision != refused or revisions.get(pid) == refused:
                del self.errors[pid]
        self._advance_if_active(etag)

    def _advance_if_active(self, etag: str) -> None:
        loaded = self._rego_loaded()
        bundle, _, covers = self._served[etag]
        if bundle.policies != loaded:
            return
        self.revision = max(self.revision, covers)
        if self._first_snapshot and self.revision >= self._first_snapshot:
            self.synced.set()
        if self.revision >= self.received_revision:
            self._behind_since = None

    def _rego_loaded(self) -> dict[str, str]:
        return {pid: rego for pid, (_, rego) in self.loaded.items() if not is_data(pid)}

    def _refused(self, activation: Activation) -> None:
        failed = self._served.get(self._last_fetched or "")
        if failed is None or self._last_fetched == activation.active:
            return  # not a bundle of ours, or an old report of one OPA has since taken
        bundle, revisions, _ = failed
        accepted = self._rego_loaded()
        pending = {pid for pid, rego in bundle.policies.items() if accepted.get(pid) != rego}
        named = {pid for pid in activation.errors if pid in pending}
        # An error in no changed file (an unchanged policy clashing with a changed one, say)
        # cannot be pinned on one policy: every change in the bundle is refused with it.
        blamed = named or pending
        if all(self.errors.get(pid, {}).get("revision") == revisions[pid] for pid in blamed):
            return  # OPA reports one failure more than once
        message = "; ".join(activation.errors.values()) or activation.message
        for pid in blamed:
            self.errors[pid] = {"revision": revisions[pid], "message": activation.errors.get(pid, message)}
            log.error("policy_sync: OPA refused %s at revision %d: %s", pid, revisions[pid], self.errors[pid]["message"])
        self.refusals += 1
        self._publish()
