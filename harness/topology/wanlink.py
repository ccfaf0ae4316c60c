"""The running WAN link: the Toxiproxy proxies of `wan.wan_routes`, their toxics, cutting and healing.

    >>> from harness.topology.wan import wan_routes
    >>> link = WanLink("http://172.18.0.2:8474", ())
    >>> link.api_url
    'http://172.18.0.2:8474'
    >>> link.cut("dc1", "dc2")  # doctest: +SKIP
    >>> link.heal()             # doctest: +SKIP

Every proxy carries two baseline toxics, the spec's Link latency and jitter in each direction,
so the lab's WAN is the model's WAN; `heal` puts them back after Toxiproxy's reset. The
nemesis adds its own toxics beside them (names not starting with BASELINE).

The one Toxiproxy client of the lab, on toxiproxy-python: its server address is class-level
(`APIConsumer`), which fits one Toxiproxy per lab; every WanLink points it at its own server
before each call, so two labs in one process (tests) still reach the right one.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import NotFound

from harness.topology.wan import Route

BASELINE = "baseline_"
STREAMS = ("upstream", "downstream")


class WanLink:
    def __init__(self, api_url: str, routes: Iterable[Route]):
        self.api_url = api_url.rstrip("/")
        self.routes = tuple(routes)
        parts = urlsplit(self.api_url)
        self._address = (parts.hostname, parts.port or 8474)
        self._server = Toxiproxy()

    @classmethod
    def from_state(cls, state) -> WanLink:
        """The running topology's WAN link, from its state file (any process)."""
        routes = [Route(**{k: v for k, v in p.items() if k != "name"} | {"carries": tuple(p["carries"])})
                  for p in state.proxies]
        return cls(state.toxiproxy_api, routes)

    def close(self) -> None:
        """Nothing to release (requests opens a connection per call); kept so a WanLink is a context."""

    @property
    def server(self) -> Toxiproxy:
        self._point()
        return self._server

    def _point(self) -> type[APIConsumer]:
        APIConsumer.host, APIConsumer.port = self._address
        return APIConsumer

    def populate(self, listen_ip: dict[str, str]) -> None:
        """Create every proxy, listening on the proxy's address on the client's site network."""
        self.server.populate([
            {"name": r.name, "listen": f"{listen_ip[r.client_site]}:{r.port}", "upstream": r.upstream, "enabled": True}
            for r in self.routes
        ])
        self.apply_baseline()

    def apply_baseline(self) -> None:
        """The spec's one-way latency and jitter, as a latency toxic on each stream of each proxy."""
        for r in self.routes:
            if r.latency_ms > 0 or r.jitter_ms > 0:
                # Toxiproxy takes whole milliseconds.
                self.add_toxic(r.name, "latency", {"latency": round(r.latency_ms), "jitter": round(r.jitter_ms)},
                               prefix=BASELINE)

    def add_toxic(self, proxy: str, type_: str, attributes: dict, *, streams: Iterable[str] = STREAMS,
                  prefix: str = "", toxicity: float = 1.0) -> list[str]:
        """One toxic per stream, named `<prefix><stream>` (or `<type>_<stream>`); returns the names."""
        p = self._proxy(proxy)
        names = []
        for stream in streams:
            name = f"{prefix}{stream}" if prefix else f"{type_}_{stream}"
            p.add_toxic(name=name, type=type_, stream=stream, toxicity=toxicity, attributes=attributes)
            names.append(name)
        return names

    def remove_toxic(self, proxy: str, name: str) -> bool:
        try:
            return self._proxy(proxy).destroy_toxic(name)
        except (NotFound, KeyError):
            return False  # already gone: healing is idempotent

    def proxies(self) -> dict[str, dict]:
        """name -> {enabled, listen, upstream, toxics: [{name, type, stream, attributes}]}."""
        return self._point().get("/proxies").json()

    def set_enabled(self, names: Iterable[str], enabled: bool) -> list[str]:
        done = []
        for name in names:
            p = self._proxy(name)
            (p.enable if enabled else p.disable)()
            done.append(name)
        return done

    def between(self, a: str | None = None, b: str | None = None) -> list[str]:
        """Names of the proxies on the link a<->b (both directions); with no sites, all of them."""
        return [r.name for r in self.routes_between(a, b)]

    def routes_between(self, a: str | None = None, b: str | None = None) -> list[Route]:
        if a is None:
            return list(self.routes)
        if b is None:
            return [r for r in self.routes if a in r.link]
        return [r for r in self.routes if r.link == frozenset((a, b))]

    def cut(self, a: str | None = None, b: str | None = None) -> list[str]:
        """Disable the proxies between a and b (a alone: all of a's links; none: the whole WAN).
        A disabled proxy closes its connections and refuses new ones (a refusal, not a blackhole:
        chaos/network.py drops packets for that)."""
        return self.set_enabled(self.between(a, b), False)

    def heal(self) -> None:
        """Every proxy enabled, every fault toxic removed, the baseline latency back."""
        self.server.reset()
        self.apply_baseline()

    def _proxy(self, name: str):
        from toxiproxy.proxy import Proxy

        self._point()
        # Built from the route, not fetched: one request per toxic instead of two.
        return Proxy(name=name, upstream="", enabled=True, listen="")

    def __enter__(self) -> WanLink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
