"""The CMS's own metrics: how each dual write ended, where its time went, what the
reconciler repaired.

    halab_cms_policy_writes_total{op="put",outcome="applied"}
    halab_cms_policy_writes_total{op="put",outcome="not_applied"}   etcd refused; rolled back
    halab_cms_policy_writes_total{op="put",outcome="unknown"}       etcd did not answer
    halab_cms_policy_writes_total{op="put",outcome="committed"}     in etcd, metadata not yet active
    halab_cms_write_step_seconds_bucket{step="etcd_txn",le="0.01"}
    halab_cms_reconciler_repairs_total{action="rolled forward"}     policies' and documents' together

The policy documents' writes (same protocol) count apart, so the policies' series stay what
they were: halab_cms_policy_data_writes_total{op,outcome} and
halab_cms_policy_data_write_step_seconds{step} (`validate` in place of `opa_compile`).
"""

from __future__ import annotations

import collections

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from system.common.metrics import LATENCY_BUCKETS

# Every way a write can end; each is exported from the start so a rate() over a rare one
# (unknown, committed) has a series to read before it first happens.
OUTCOMES = ("applied", "unchanged", "conflict", "invalid", "not_found", "not_applied", "unknown", "committed",
            "unavailable")


class CmsMetrics:
    def __init__(self, registry: CollectorRegistry, reconciler, documents_reconciler=None) -> None:
        self._series = {
            "policy": _write_series(registry, "halab_cms_policy_writes", "halab_cms_write_step_seconds", "policy"),
            "document": _write_series(registry, "halab_cms_policy_data_writes",
                                      "halab_cms_policy_data_write_step_seconds", "policy document"),
        }
        self.writes, self.steps = self._series["policy"]
        registry.register(_ReconcilerCollector([r for r in (reconciler, documents_reconciler) if r is not None]))

    def write(self, op: str, outcome: str, steps_ms: dict[str, float], kind: str = "policy") -> None:
        writes, steps = self._series[kind]
        writes.labels(op, outcome.replace(" ", "_")).inc()
        for step, ms in steps_ms.items():
            steps.labels(step).observe(ms / 1000)


def _write_series(registry: CollectorRegistry, writes_name: str, steps_name: str,
                  what: str) -> tuple[Counter, Histogram]:
    writes = Counter(writes_name, f"Writes of a {what} by how the MongoDB/etcd dual write ended", ("op", "outcome"),
                     registry=registry)
    for op in ("put", "delete"):
        for outcome in OUTCOMES:
            writes.labels(op, outcome)
    steps = Histogram(steps_name, f"Time of each step of a {what} write", ("step",), buckets=LATENCY_BUCKETS,
                      registry=registry)
    return writes, steps


class _ReconcilerCollector(Collector):
    """The reconcilers (policies', documents') as one: they run the same passes side by side."""

    def __init__(self, reconcilers: list) -> None:
        self.reconcilers = reconcilers

    def collect(self):
        repaired = collections.Counter()
        for r in self.reconcilers:
            repaired.update(r.repaired)
        repairs = CounterMetricFamily("halab_cms_reconciler_repairs", "Pending records the reconciler settled",
                                      labels=("action",))
        for action in ("rolled forward", "rolled back", *sorted(set(repaired) - {"rolled forward", "rolled back"})):
            repairs.add_metric((action,), repaired.get(action, 0))
        yield repairs
        # Passes of the policies' reconciler: the documents' runs on the same timer.
        yield CounterMetricFamily("halab_cms_reconciler_runs", "Reconciler passes completed",
                                  value=self.reconcilers[0].runs)
