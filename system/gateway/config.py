"""APISIX's data model as the gateway reads it: routes, upstreams, consumers, secret managers.

A `Config` is an immutable snapshot built from the raw etcd key/values under `/apisix/`;
the watcher builds a new one on every change and swaps it in with one assignment, so a
request always sees one consistent config. An entry that does not parse is skipped and
named in `Config.errors`; the rest keeps serving.

    >>> raw = {"/apisix/routes/1": {"uri": "/rag/*", "upstream": {"nodes": {"rag:8000": 1}}}}
    >>> cfg = build_config(raw, revision=7).index()     # index() builds the match tables
    >>> cfg.match("GET", "/rag/query").id
    '1'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# APISIX's upstream timeout defaults (seconds).
DEFAULT_CONNECT_S = 6.0
DEFAULT_SEND_S = 6.0
DEFAULT_READ_S = 6.0


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Node:
    host: str
    port: int
    weight: int

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"


class Balancer:
    """Smooth weighted round robin (nginx's): 3:1 gives a a b a; 0 = never. Memory and each
    pick are O(nodes) whatever the weights (a sequence laid out by weight would let one
    configured weight of 10**18 exhaust the gateway)."""

    def __init__(self, nodes: tuple[Node, ...]):
        self._live = [n for n in nodes if n.weight > 0]
        self._current = [0] * len(self._live)
        self._total = sum(n.weight for n in self._live)

    def pick(self, exclude: set[Node] | None = None) -> Node | None:
        candidates = [i for i, n in enumerate(self._live) if not exclude or n not in exclude]
        if not candidates:
            return None
        total = sum(self._live[i].weight for i in candidates)
        for i in candidates:
            self._current[i] += self._live[i].weight
        best = max(candidates, key=lambda i: self._current[i])
        self._current[best] -= total
        return self._live[best]

    @property
    def distinct(self) -> int:
        return len(set(self._live))


@dataclass(frozen=True)
class Upstream:
    nodes: tuple[Node, ...]
    scheme: str = "http"
    retries: int | None = None
    connect_s: float = DEFAULT_CONNECT_S
    send_s: float = DEFAULT_SEND_S
    read_s: float = DEFAULT_READ_S
    pass_host: str = "pass"
    balancer: Balancer = field(default=None, compare=False, repr=False)  # type: ignore[assignment]
    client_timeout: object = field(default=None, compare=False, repr=False)

    @property
    def attempts(self) -> int:
        # APISIX: retries defaults to the number of nodes minus one.
        retries = self.retries if self.retries is not None else max(0, len(self.nodes) - 1)
        return 1 + max(0, retries)


def parse_upstream(raw: Any) -> Upstream:
    if not isinstance(raw, dict):
        raise ConfigError("upstream must be an object")
    nodes_raw = raw.get("nodes")
    nodes: list[Node] = []
    if isinstance(nodes_raw, dict):
        for hostport, weight in nodes_raw.items():
            host, port = _split_hostport(hostport, raw.get("scheme", "http"))
            nodes.append(Node(host, port, _int(weight, "weight")))
    elif isinstance(nodes_raw, list):
        for item in nodes_raw:
            if not isinstance(item, dict) or "host" not in item:
                raise ConfigError("upstream node needs host")
            port = item.get("port") or (443 if raw.get("scheme") == "https" else 80)
            nodes.append(Node(str(item["host"]), _int(port, "port"), _int(item.get("weight", 1), "weight")))
    else:
        raise ConfigError("upstream.nodes must be an object or a list")
    if not nodes:
        raise ConfigError("upstream has no nodes")
    timeout = raw.get("timeout") or {}
    if not isinstance(timeout, dict):
        raise ConfigError("upstream.timeout must be an object")
    scheme = raw.get("scheme", "http")
    if scheme not in ("http", "https"):
        raise ConfigError(f"unsupported upstream scheme {scheme!r}")
    retries = raw.get("retries")
    up = Upstream(
        nodes=tuple(nodes),
        scheme=scheme,
        retries=None if retries is None else _int(retries, "retries"),
        connect_s=float(timeout.get("connect", DEFAULT_CONNECT_S)),
        send_s=float(timeout.get("send", DEFAULT_SEND_S)),
        read_s=float(timeout.get("read", DEFAULT_READ_S)),
        pass_host=raw.get("pass_host", "pass"),
    )
    object.__setattr__(up, "balancer", Balancer(up.nodes))
    import aiohttp  # built once per config, not per request

    object.__setattr__(up, "client_timeout", aiohttp.ClientTimeout(
        total=None, connect=up.connect_s + up.send_s, sock_connect=up.connect_s, sock_read=up.read_s))
    return up


@dataclass(frozen=True)
class Route:
    id: str
    uris: tuple[str, ...]
    methods: frozenset[str] | None
    priority: int
    upstream: Upstream | None
    plugins: dict[str, Any]
    name: str = ""
    # Plugin instances, built once per config (see plugins.build_pipeline).
    pipeline: tuple = ()
    handler: Any = None  # a plugin that replaces the upstream call (ai-proxy)
    value: dict = field(default_factory=dict, compare=False, repr=False)  # as stored in etcd (opa's with_route)


def parse_route(route_id: str, raw: Any, upstreams: dict[str, Upstream],
                plugin_configs: dict[str, dict] | None = None) -> Route:
    if not isinstance(raw, dict):
        raise ConfigError("route must be an object")
    uris = raw.get("uris") or ([raw["uri"]] if raw.get("uri") else [])
    if not uris or not all(isinstance(u, str) and u.startswith("/") for u in uris):
        raise ConfigError("route needs uri or uris starting with /")
    methods = raw.get("methods")
    if methods is not None and (not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)):
        raise ConfigError("methods must be a list of strings")
    upstream = None
    if raw.get("upstream") is not None:
        upstream = parse_upstream(raw["upstream"])
    elif raw.get("upstream_id") is not None:
        upstream = upstreams.get(str(raw["upstream_id"]))
        if upstream is None:
            raise ConfigError(f"upstream_id {raw['upstream_id']!r} not found")
    plugins = raw.get("plugins") or {}
    if not isinstance(plugins, dict):
        raise ConfigError("plugins must be an object")
    if raw.get("plugin_config_id") is not None:
        shared = (plugin_configs or {}).get(str(raw["plugin_config_id"]))
        if shared is None:
            raise ConfigError(f"plugin_config_id {raw['plugin_config_id']!r} not found")
        # APISIX: the route's own conf of a plugin wins over the plugin config's.
        plugins = {**(shared.get("plugins") or {}), **plugins}
    return Route(
        id=route_id,
        uris=tuple(uris),
        methods=frozenset(m.upper() for m in methods) if methods else None,
        priority=_int(raw.get("priority", 0), "priority"),
        upstream=upstream,
        plugins=plugins,
        name=str(raw.get("name", "")),
        value=raw,
    )


@dataclass(frozen=True)
class Consumer:
    username: str
    groups: tuple[str, ...]
    role: str
    plugins: dict[str, Any]
    value: dict = field(default_factory=dict, compare=False, repr=False)  # as stored in etcd (opa's with_consumer)


def parse_consumer(name: str, raw: Any) -> Consumer:
    """APISIX consumer JSON; groups and role ride in `labels` (APISIX labels are strings,
    so groups are comma-separated), or in top-level `groups`/`role` if present."""
    if not isinstance(raw, dict):
        raise ConfigError("consumer must be an object")
    username = str(raw.get("username") or name)
    labels = raw.get("labels") or {}
    groups = raw.get("groups")
    if groups is None:
        groups = [g for g in str(labels.get("groups", "")).split(",") if g]
    if not isinstance(groups, list):
        raise ConfigError("consumer groups must be a list")
    role = str(raw.get("role") or labels.get("role") or "user")
    plugins = raw.get("plugins") or {}
    if not isinstance(plugins, dict):
        raise ConfigError("consumer plugins must be an object")
    return Consumer(username=username, groups=tuple(str(g) for g in groups), role=role, plugins=plugins, value=raw)


@dataclass
class Config:
    """One consistent snapshot of the gateway's config (see module docstring)."""

    revision: int
    routes: dict[str, Route]
    consumers: dict[str, Consumer]
    secret_managers: dict[str, dict]  # "vault/1" -> {"uri", "prefix", ...}
    errors: dict[str, str]
    _exact: dict[str, list[Route]] = field(default_factory=dict, repr=False)
    _prefix: list[tuple[str, Route]] = field(default_factory=list, repr=False)
    consumers_by_key: dict[str, Consumer] = field(default_factory=dict, repr=False)

    def index(self) -> Config:
        self._exact.clear()
        self._prefix.clear()
        for route in self.routes.values():
            for uri in route.uris:
                if uri.endswith("*"):
                    self._prefix.append((uri[:-1], route))
                else:
                    self._exact.setdefault(uri, []).append(route)
        # Longest prefix first, then higher priority (APISIX's radixtree order).
        self._prefix.sort(key=lambda pr: (-len(pr[0]), -pr[1].priority))
        for routes in self._exact.values():
            routes.sort(key=lambda r: -r.priority)
        self.consumers_by_key = {}
        for c in self.consumers.values():
            key = (c.plugins.get("key-auth") or {}).get("key")
            if isinstance(key, str) and key:
                self.consumers_by_key[key] = c
        return self

    def match(self, method: str, path: str) -> Route | None:
        for route in self._exact.get(path, ()):
            if route.methods is None or method in route.methods:
                return route
        for prefix, route in self._prefix:
            if path.startswith(prefix) and (route.methods is None or method in route.methods):
                return route
        return None


def build_config(raw: dict[str, Any], revision: int, prefix: str = "/apisix") -> Config:
    """`raw` maps etcd keys to decoded JSON values (or the exception that decoding raised)."""
    errors: dict[str, str] = {}
    upstreams: dict[str, Upstream] = {}
    routes_raw: dict[str, Any] = {}
    consumers: dict[str, Consumer] = {}
    secrets: dict[str, dict] = {}
    plugin_configs: dict[str, dict] = {}
    for key, value in raw.items():
        rel = key[len(prefix):].strip("/") if key.startswith(prefix) else key.strip("/")
        kind, _, ident = rel.partition("/")
        if not ident:
            continue
        try:
            if isinstance(value, Exception):
                raise ConfigError(f"not JSON: {value}")
            if kind == "routes":
                routes_raw[ident] = value
            elif kind == "upstreams":
                upstreams[ident] = parse_upstream(value)
            elif kind == "consumers":
                consumers[ident] = parse_consumer(ident, value)
            elif kind == "plugin_configs":
                if not isinstance(value, dict) or not isinstance(value.get("plugins"), dict):
                    raise ConfigError("plugin config needs plugins (an object)")
                plugin_configs[ident] = value
            elif kind == "secrets":
                if not isinstance(value, dict):
                    raise ConfigError("secret manager must be an object")
                secrets[ident] = value
        except (ConfigError, TypeError, ValueError, KeyError) as exc:
            errors[key] = str(exc)
    routes: dict[str, Route] = {}
    for ident, value in routes_raw.items():
        try:
            route = parse_route(ident, value, upstreams, plugin_configs)
            if isinstance(value, dict) and value.get("status", 1) == 0:
                continue  # disabled, as APISIX's status field
            routes[ident] = route
        except (ConfigError, TypeError, ValueError, KeyError) as exc:
            errors[f"{prefix}/routes/{ident}"] = str(exc)
    return Config(revision=revision, routes=routes, consumers=consumers, secret_managers=secrets, errors=errors)


def _split_hostport(hostport: str, scheme: str) -> tuple[str, int]:
    host, sep, port = str(hostport).rpartition(":")
    if not sep or not port.isdigit():
        return str(hostport), 443 if scheme == "https" else 80
    return host, int(port)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{what} must be a number")
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"{what} must be a number") from exc
