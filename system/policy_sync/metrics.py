"""policy_sync's own metrics, read from the sync loop's status at scrape time.

    halab_policy_sync_revision 41          every policy change up to 41 is loaded in OPA
    halab_policy_sync_received_revision 42 the newest change the watch delivered
    halab_policy_sync_lag_revisions 1      received - loaded (0: caught up)
    halab_policy_sync_lag_seconds 0.004    how long the loaded revision has trailed
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from system.policy_sync.syncer import PolicySync


class SyncCollector(Collector):
    def __init__(self, sync: PolicySync) -> None:
        self.sync = sync

    def collect(self):
        s = self.sync.status()
        gauges = (
            ("revision", "The etcd revision up to which every policy change is loaded in OPA", s["revision"]),
            ("received_revision", "The newest policy revision the etcd watch delivered", s["received_revision"]),
            ("lag_revisions", "Policy revisions delivered by the watch and not yet loaded", s["lag"]["revisions"]),
            ("lag_seconds", "How long the loaded revision has trailed the delivered one (0: caught up)",
             s["lag"]["seconds"]),
            ("policies_loaded", "Policies loaded in OPA", len(s["policies"])),
            ("policies_refused", "Policies in etcd that OPA refused to load", len(s["errors"])),
            ("etcd_connected", "1 while the watch on etcd is up", int(s["etcd_connected"])),
            ("synced", "1 once a full snapshot of the prefix has been loaded", int(s["synced"])),
        )
        for name, doc, value in gauges:
            yield GaugeMetricFamily(f"halab_policy_sync_{name}", doc, value=value)
        counters = (
            ("events_applied", "Watch events applied to OPA", s["events_applied"]),
            ("events_superseded", "Watch events applied by putting a newer version of the same policy",
             s["events_superseded"]),
            ("resyncs", "Full resyncs of OPA from an etcd snapshot", s["resyncs"]),
            ("compactions", "Watches restarted because their start revision was compacted", s["compactions"]),
        )
        if "bundle" in s:  # bundle mode: a compile per activation, however many policies it changed
            counters += (("bundle_activations", "Bundles OPA activated (one compile each)", s["bundle"]["activations"]),
                         ("bundle_refusals", "Bundles OPA refused to activate", s["bundle"]["refusals"]))
        for name, doc, value in counters:
            yield CounterMetricFamily(f"halab_policy_sync_{name}", doc, value=value)
