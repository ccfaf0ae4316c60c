"""Prometheus (Debian's package, harness/images) as a container; ready when `/-/ready` answers.

    >>> with PrometheusContainer(run_id).with_config(yaml_text).on_network(dc1).on_network(dc2) as prom:  # doctest: +SKIP
    ...     prom.query("up")       # [{"metric": {...}, "value": [t, "1"]}, ...]
"""

from __future__ import annotations

import httpx

from harness.containers.base import HalabContainer, http_ok

PORT = 9090
CONFIG_PATH = "/etc/prometheus/prometheus.yml"


class PrometheusContainer(HalabContainer):
    component = "prometheus"
    port = PORT

    def __init__(self, run_id: str, image: str | None = None, **kwargs) -> None:
        super().__init__(run_id, image, **kwargs)
        self._config = "scrape_configs: []\n"

    def with_config(self, yaml_text: str) -> PrometheusContainer:
        self._config = yaml_text
        return self

    def _configure(self) -> None:
        self.with_copy_into_container(self._config.encode(), CONFIG_PATH)
        self.with_command([f"--config.file={CONFIG_PATH}", "--storage.tsdb.path=/prometheus",
                           f"--web.listen-address=0.0.0.0:{PORT}", "--storage.tsdb.retention.time=1d"])

    def _probe(self) -> bool:
        return http_ok(self.url("/-/ready"))

    def query(self, promql: str) -> list[dict]:
        return instant_query(self.url(), promql)

    def targets(self) -> list[dict]:
        return active_targets(self.url())


def instant_query(base_url: str, promql: str, timeout_s: float = 5.0) -> list[dict]:
    """The result vector of an instant query (the HTTP API's /api/v1/query)."""
    resp = httpx.get(f"{base_url}/api/v1/query", params={"query": promql}, timeout=timeout_s, trust_env=False)
    resp.raise_for_status()
    return resp.json()["data"]["result"]


def active_targets(base_url: str, timeout_s: float = 5.0) -> list[dict]:
    resp = httpx.get(f"{base_url}/api/v1/targets", params={"state": "active"}, timeout=timeout_s, trust_env=False)
    resp.raise_for_status()
    return resp.json()["data"]["activeTargets"]
