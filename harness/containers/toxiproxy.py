"""Toxiproxy (the WAN link) as a container; ready when `/version` answers.

    >>> with ToxiproxyContainer(run_id).on_network(dc1, "etcd2").on_network(dc2, "etcd1") as wan:  # doctest: +SKIP
    ...     wan.create_proxy("etcd1-to-etcd2", listen=f"{wan.address(dc1)}:2380", upstream="etcd2-real:2380")

Multi-homed: call `on_network` once per site. Bind each proxy to the container's address
on the *client's* network (DESIGN.md section 3) — `address(network)` gives it.
"""

from __future__ import annotations

import json
import urllib.request

from harness.containers.base import HalabContainer, http_ok

API_PORT = 8474


class ToxiproxyContainer(HalabContainer):
    component = "toxiproxy"
    port = API_PORT

    def _configure(self) -> None:
        self.with_command(["-host", "0.0.0.0", "-port", str(API_PORT)])

    @property
    def api_url(self) -> str:
        return self.url()

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> dict:
        """POST /proxies; returns the proxy as the server describes it."""
        return self._request("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream,
                                                  "enabled": enabled})

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url(path), data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=5) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else {}

    def _probe(self) -> bool:
        return http_ok(self.url("/version"))
