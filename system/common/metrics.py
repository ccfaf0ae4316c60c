"""Prometheus metrics every halab HTTP service exposes at `/metrics` (prometheus-client).

Each app owns a registry (tests build many apps in one process; the global registry would
refuse the second). `create_app` adds the HTTP metrics below and the process collector; a
service adds its own collectors to `app.state.metrics.registry`.

    halab_http_requests_total{service="cms",method="PUT",route="/cms/policies/{policy_id}",code="200"}
    halab_http_request_duration_seconds_bucket{service="cms",method="PUT",route=...,le="0.05"}

`route` is the matched route's template, never the raw path, so a scan of random URLs
adds one series (`route="unmatched"`), not one per URL.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from starlette.types import ASGIApp, Receive, Scope, Send

# `*_created` doubles every series and no dashboard reads it.
disable_created_metrics()

# Seconds: from a cached key lookup (sub-ms) to the LLM path's seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UNMATCHED = "unmatched"


class ServiceMetrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.requests = Counter("halab_http_requests", "HTTP requests answered, by route template and status code",
                                ("service", "method", "route", "code"), registry=self.registry)
        self.latency = Histogram("halab_http_request_duration_seconds",
                                 "Time from request received to response sent, by route template",
                                 ("service", "method", "route"), buckets=LATENCY_BUCKETS, registry=self.registry)

    def observe(self, method: str, route: str, code: int, seconds: float) -> None:
        self.requests.labels(self.service, method, route, str(code)).inc()
        self.latency.labels(self.service, method, route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request by the route template Starlette matched."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500

        async def send_recording(message):
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.observe(scope["method"], route, code, time.perf_counter() - started)
