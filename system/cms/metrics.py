"""The CMS's own metrics: how each dual write ended, where its time went, what the
reconciler repaired.

    halab_cms_policy_writes_total{op="put",outcome="applied"}
    halab_cms_policy_writes_total{op="put",outcome="not_applied"}   etcd refused; rolled back
    halab_cms_policy_writes_total{op="put",outcome="unknown"}       etcd did not answer
    halab_cms_policy_writes_total{op="put",outcome="committed"}     in etcd, metadata not yet active
    halab_cms_write_step_seconds_bucket{step="etcd_txn",le="0.01"}
    halab_cms_reconciler_repairs_total{action="rolled forward"}
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from system.common.metrics import LATENCY_BUCKETS

# Every way a write can end; each is exported from the start so a rate() over a rare one
# (unknown, committed) has a series to read before it first happens.
OUTCOMES = ("applied", "unchanged", "conflict", "invalid", "not_found", "not_applied", "unknown", "committed",
            "unavailable")


class CmsMetrics:
    def __init__(self, registry: CollectorRegistry, reconciler) -> None:
        self.writes = Counter("halab_cms_policy_writes", "Policy writes by how the MongoDB/etcd dual write ended",
                              ("op", "outcome"), registry=registry)
        for op in ("put", "delete"):
            for outcome in OUTCOMES:
                self.writes.labels(op, outcome)
        self.steps = Histogram("halab_cms_write_step_seconds", "Time of each step of a policy write",
                               ("step",), buckets=LATENCY_BUCKETS, registry=registry)
        registry.register(_ReconcilerCollector(reconciler))

    def write(self, op: str, outcome: str, steps_ms: dict[str, float]) -> None:
        self.writes.labels(op, outcome.replace(" ", "_")).inc()
        for step, ms in steps_ms.items():
            self.steps.labels(step).observe(ms / 1000)


class _ReconcilerCollector(Collector):
    def __init__(self, reconciler) -> None:
        self.reconciler = reconciler

    def collect(self):
        repairs = CounterMetricFamily("halab_cms_reconciler_repairs", "Pending records the reconciler settled",
                                      labels=("action",))
        for action in ("rolled forward", "rolled back", *sorted(set(self.reconciler.repaired) - {
                "rolled forward", "rolled back"})):
            repairs.add_metric((action,), self.reconciler.repaired.get(action, 0))
        yield repairs
        yield CounterMetricFamily("halab_cms_reconciler_runs", "Reconciler passes completed",
                                  value=self.reconciler.runs)
