"""The gateway's Prometheus metrics under the names of APISIX's prometheus plugin.

APISIX 3.x (apisix/plugins/prometheus/exporter.lua) exports, and so does this gateway:

    apisix_http_status{code,route,matched_uri,matched_host,service,consumer,node}    counter
    apisix_http_latency_bucket{type,route,service,consumer,node,le}   histogram, milliseconds,
        type="request" (whole request), "upstream" (waiting on the upstream), "apisix" (the rest)
    apisix_bandwidth{type,route,service,consumer,node}   counter, bytes, type="ingress"|"egress"
    apisix_etcd_reachable                                gauge, 1 while the config watch is up
    apisix_etcd_modify_indexes{key="x_etcd_index"}       gauge, the config revision loaded
    apisix_http_requests_total                           gauge, every request the gateway saw
    apisix_node_info{hostname}                           gauge

with APISIX's label values: `route` is the route id ("" when none matched, as for a 404),
`node` the upstream node's host, `service` the route's service_id. Bytes are the request's
headers and body in, the response's headers and body out (nginx counts the request line and
the status line too: a few bytes more per request).

prometheus-client's `Counter` would name these `apisix_http_status_total`; dashboards and
alerts written for APISIX query `apisix_http_status`, so the families are built with
prometheus-client's `Metric` and written by `render`, which keeps a family's own sample names.
The key cache's metrics (halab_secret_cache_*) and the process's come from prometheus-client's
own registry and exposition, after the APISIX families.
"""

from __future__ import annotations

import bisect
import collections
import socket
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# exporter.lua's DEFAULT_BUCKETS, in milliseconds.
LATENCY_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000)
STATUS_LABELS = ("code", "route", "matched_uri", "matched_host", "service", "consumer", "node")
LATENCY_LABELS = ("type", "route", "service", "consumer", "node")


class _Histogram:
    __slots__ = ("buckets", "sum", "count")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS_MS, value)] += 1
        self.sum += value
        self.count += 1


class GatewayMetrics:
    def __init__(self, hostname: str | None = None) -> None:
        self.hostname = hostname or socket.gethostname()
        self.status: collections.Counter[tuple] = collections.Counter()
        self.bandwidth: collections.Counter[tuple] = collections.Counter()
        self.latency: dict[tuple, _Histogram] = collections.defaultdict(_Histogram)
        self.requests = 0
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)

    def watch_secrets(self, status: Callable[[], dict]) -> None:
        """The key cache's metrics, once the secret store exists (at start-up)."""
        self.registry.register(_KeyCacheCollector(status))

    def count_request(self) -> None:
        self.requests += 1

    def observe(self, *, code: int, route: str, matched_uri: str, service: str, consumer: str, node: str,
                total_ms: float, upstream_ms: float | None, ingress: int, egress: int) -> None:
        self.status[(str(code), route, matched_uri, "", service, consumer, node)] += 1
        who = (route, service, consumer, node)
        self.latency[("request", *who)].observe(total_ms)
        if upstream_ms is not None:
            self.latency[("upstream", *who)].observe(upstream_ms)
        self.latency[("apisix", *who)].observe(max(0.0, total_ms - (upstream_ms or 0.0)))
        self.bandwidth[("ingress", *who)] += ingress
        self.bandwidth[("egress", *who)] += egress

    def families(self, etcd_reachable: bool, config_revision: int) -> list[Metric]:
        status = Metric("apisix_http_status", "HTTP status codes per service in APISIX", "counter")
        for labels, n in self.status.items():
            status.add_sample("apisix_http_status", dict(zip(STATUS_LABELS, labels)), n)
        latency = Metric("apisix_http_latency", "HTTP request latency in milliseconds per service in APISIX",
                         "histogram")
        for labels, h in self.latency.items():
            base = dict(zip(LATENCY_LABELS, labels))
            cumulative = 0
            for bound, n in zip((*LATENCY_BUCKETS_MS, float("inf")), h.buckets):
                cumulative += n
                latency.add_sample("apisix_http_latency_bucket", {**base, "le": floatToGoString(bound)}, cumulative)
            latency.add_sample("apisix_http_latency_sum", base, h.sum)
            latency.add_sample("apisix_http_latency_count", base, h.count)
        bandwidth = Metric("apisix_bandwidth", "Total bandwidth in bytes consumed per service in APISIX", "counter")
        for labels, n in self.bandwidth.items():
            bandwidth.add_sample("apisix_bandwidth", dict(zip(LATENCY_LABELS, labels)), n)
        reachable = Metric("apisix_etcd_reachable", "Config server etcd reachable from APISIX, 0 is unreachable",
                           "gauge")
        reachable.add_sample("apisix_etcd_reachable", {}, 1 if etcd_reachable else 0)
        indexes = Metric("apisix_etcd_modify_indexes", "APISIX etcd modify index for every resource key", "gauge")
        indexes.add_sample("apisix_etcd_modify_indexes", {"key": "x_etcd_index"}, config_revision)
        total = Metric("apisix_http_requests_total", "The total number of client requests since APISIX started",
                       "gauge")
        total.add_sample("apisix_http_requests_total", {}, self.requests)
        info = Metric("apisix_node_info", "Info of APISIX node", "gauge")
        info.add_sample("apisix_node_info", {"hostname": self.hostname}, 1)
        return [status, latency, bandwidth, reachable, indexes, total, info]

    def exposition(self, etcd_reachable: bool, config_revision: int) -> bytes:
        return render(self.families(etcd_reachable, config_revision)) + generate_latest(self.registry)


def render(families: Iterable[Metric]) -> bytes:
    """Prometheus text format 0.0.4, each family under its own name (no `_total` added)."""
    out: list[str] = []
    for f in families:
        out.append(f"# HELP {f.name} {f.documentation}\n# TYPE {f.name} {f.type}\n")
        for s in f.samples:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels.items())
            out.append(f"{s.name}{{{labels}}} {floatToGoString(s.value)}\n" if labels
                       else f"{s.name} {floatToGoString(s.value)}\n")
    return "".join(out).encode()


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class _KeyCacheCollector(Collector):
    """The secret cache that carries the LLM path through an OpenBao outage."""

    def __init__(self, status: Callable[[], dict]) -> None:
        self.status = status

    def collect(self):
        s = self.status()
        yield CounterMetricFamily("halab_secret_cache_hits", "Secret lookups answered from the cache within its TTL",
                                  value=s["hits"])
        yield CounterMetricFamily("halab_secret_cache_stale_served",
                                  "Secret lookups answered with a value past its TTL (OpenBao slow or down)",
                                  value=s["stale_served"])
        yield CounterMetricFamily("halab_secret_cache_reads", "Reads of a secret from OpenBao", value=s["reads"])
        yield CounterMetricFamily("halab_secret_cache_failures", "Failed reads of a secret from OpenBao",
                                  value=s["failures"])
        age = GaugeMetricFamily("halab_secret_cache_age_seconds",
                                "Age of each cached secret (past ttl + max-stale it is no longer served)",
                                labels=("path",))
        for entry in s["cached"]:
            age.add_metric((entry["path"],), entry["age_s"])
        yield age
        yield GaugeMetricFamily("halab_secret_cache_ttl_seconds", "The cache's TTL", value=s["ttl_s"])
        yield GaugeMetricFamily("halab_secret_cache_max_stale_seconds", "How long past its TTL a value is served",
                                value=s["max_stale_s"])
