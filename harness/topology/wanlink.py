"""The running WAN link: the Toxiproxy proxies of `wan.wan_routes`, and cutting or healing them.

    >>> link = WanLink("http://172.18.0.2:8474", routes)       # doctest: +SKIP
    >>> link.cut("dc1", "dc2")      # disable every proxy between the two DCs, both directions
    >>> link.heal()                 # everything enabled, only the spec's baseline latency left

Every proxy carries two baseline toxics, the spec's Link latency and jitter in each direction,
so the lab's WAN is the model's WAN; `heal` puts them back after Toxiproxy's reset. Chaos
code adds its own toxics beside them (names not starting with BASELINE).

Plain HTTP against Toxiproxy's v2 API, so it does not touch toxiproxy-python's class-level
server address (chaos code may point that at this same server).
"""

from __future__ import annotations

from typing import Iterable

import httpx

from harness.topology.wan import Route

BASELINE = "baseline_"


class WanLink:
    def __init__(self, api_url: str, routes: Iterable[Route], timeout_s: float = 5.0):
        self.api_url = api_url.rstrip("/")
        self.routes = tuple(routes)
        self._http = httpx.Client(base_url=self.api_url, timeout=timeout_s)

    @classmethod
    def from_state(cls, state) -> "WanLink":
        """The running topology's WAN link, from its state file (any process)."""
        routes = [Route(**{k: v for k, v in p.items() if k != "name"} | {"carries": tuple(p["carries"])})
                  for p in state.proxies]
        return cls(state.toxiproxy_api, routes)

    def close(self) -> None:
        self._http.close()

    def populate(self, listen_ip: dict[str, str]) -> None:
        """Create every proxy, listening on the proxy's address on the client's site network."""
        body = [
            {"name": r.name, "listen": f"{listen_ip[r.client_site]}:{r.port}", "upstream": r.upstream, "enabled": True}
            for r in self.routes
        ]
        resp = self._http.post("/populate", json=body)
        resp.raise_for_status()
        self.apply_baseline()

    def apply_baseline(self) -> None:
        """The spec's one-way latency and jitter, as a latency toxic on each stream of each proxy."""
        for r in self.routes:
            if r.latency_ms <= 0 and r.jitter_ms <= 0:
                continue
            for stream in ("upstream", "downstream"):
                toxic = {
                    "name": f"{BASELINE}{stream}", "type": "latency", "stream": stream, "toxicity": 1.0,
                    # Toxiproxy takes whole milliseconds.
                    "attributes": {"latency": round(r.latency_ms), "jitter": round(r.jitter_ms)},
                }
                self._http.post(f"/proxies/{r.name}/toxics", json=toxic).raise_for_status()

    def proxies(self) -> dict[str, dict]:
        resp = self._http.get("/proxies")
        resp.raise_for_status()
        return resp.json()

    def set_enabled(self, names: Iterable[str], enabled: bool) -> list[str]:
        done = []
        for name in names:
            self._http.post(f"/proxies/{name}", json={"enabled": enabled}).raise_for_status()
            done.append(name)
        return done

    def between(self, a: str | None = None, b: str | None = None) -> list[str]:
        """Names of the proxies on the link a<->b (both directions); with no sites, all of them."""
        if a is None:
            return [r.name for r in self.routes]
        if b is None:
            return [r.name for r in self.routes if a in r.link]
        return [r.name for r in self.routes if r.link == frozenset((a, b))]

    def cut(self, a: str | None = None, b: str | None = None) -> list[str]:
        """Disable the proxies between a and b (a alone: all of a's links; none: the whole WAN).
        A disabled proxy closes its connections and refuses new ones."""
        return self.set_enabled(self.between(a, b), False)

    def heal(self) -> None:
        """Every proxy enabled, every fault toxic removed, the baseline latency back."""
        self._http.post("/reset").raise_for_status()
        self.apply_baseline()

    def __enter__(self) -> "WanLink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
