"""The sync loop's bundle mode: OPA pulls every policy as one bundle and compiles once per batch.

    etcd watch ─> desired view ─> publish bundle (etag = revision) ─> OPA long-polls it,
                                                                       compiles once, activates
    OPA's status plugin ─> POST /opa/status ─> `revision` = what OPA activated
                                         └──> refusals: the refused version is swapped for the
                                              last one OPA accepted, and the bundle rebuilt

The snapshot, the watch, failover and lag are PolicySync's; what changes is how a view
reaches OPA. With `PUT /v1/policies`, ten distinct policies changed cost ten compiles of
every loaded module; here they cost one, because whatever changed while OPA compiled
is in the next bundle it takes.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from system.policy_sync.bundle import Activation, Board, Bundle
from system.policy_sync.source import Batch, Entry
from system.policy_sync.syncer import PolicySync, Source

log = logging.getLogger(__name__)
_KEEP_SERVED = 16  # bundles OPA may still report on: it activates one while the next is published


class BundleSync(PolicySync):
    """Keeps one OPA's bundle equal to etcd's policy prefix; OPA reports what it activated.

        sync = BundleSync(lambda: EtcdSource("127.0.0.1:2379"))
        app serves sync.board at /opa/bundles/policies.tar.gz and feeds /opa/status to sync.on_status
    """

    def __init__(self, source_factory: Callable[[], Source], **kwargs) -> None:
        super().__init__(source_factory, opa=None, **kwargs)  # type: ignore[arg-type]
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

    def status(self) -> dict:
        st = super().status()
        with self._lock:
            st["bundle"] = {"offered": self.board.current.etag if self.board.current else None,
                            "active": self._active_etag, "activations": self.activations,
                            "refusals": self.refusals}
        return st

    # ------------------------------------------------------------ etcd side

    def resync(self, source: Source, periodic: bool = False) -> None:
        revision, entries = source.snapshot()
        with self._lock:
            if periodic and revision <= self.view_revision:
                return  # the watch is already past this snapshot
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
        with self._lock:
            seen: dict[str, int] = {}
            for ev in batch.events:
                if ev.mod_revision <= self._snapshot_revision:
                    continue  # in the last snapshot already
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

    def _maybe_verify(self) -> None:
        """Nothing to put back: a restarted OPA downloads the bundle itself."""

    # ------------------------------------------------------------ the bundle

    def _offered(self) -> tuple[dict[str, str], dict[str, int]]:
        """What OPA should hold: the desired view, with each refused version replaced by the
        last version OPA accepted (or left out, if it never accepted one)."""
        policies: dict[str, str] = {}
        revisions: dict[str, int] = {}
        for pid, entry in self.desired.items():
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
        with self._lock:
            if activation.active in self._served:
                self._activated(activation.active)
            if activation.failed and activation.errors:
                self._refused(activation)

    def _activated(self, etag: str) -> None:
        bundle, revisions, _ = self._served[etag]
        if etag != self._active_etag:
            self._active_etag = etag
            self.activations += 1
        self.loaded = {pid: (revisions[pid], rego) for pid, rego in bundle.policies.items()}
        for pid in list(self.errors):  # a refusal stands while its version is the one wanted and not loaded
            refused = self.errors[pid].get("revision")
            entry = self.desired.get(pid)
            if entry is None or entry.mod_revision != refused or revisions.get(pid) == refused:
                del self.errors[pid]
        self._advance_if_active(etag)

    def _advance_if_active(self, etag: str) -> None:
        loaded = {pid: rego for pid, (_, rego) in self.loaded.items()}
        bundle, _, covers = self._served[etag]
        if bundle.policies != loaded:
            return
        self.revision = max(self.revision, covers)
        if self._first_snapshot and self.revision >= self._first_snapshot:
            self.synced.set()
        if self.revision >= self.received_revision:
            self._behind_since = None

    def _refused(self, activation: Activation) -> None:
        failed = self._served.get(self._last_fetched or "")
        if failed is None or self._last_fetched == activation.active:
            return  # not a bundle of ours, or an old report of one OPA has since taken
        bundle, revisions, _ = failed
        accepted = {pid: rego for pid, (_, rego) in self.loaded.items()}
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
