"""APISIX plugins the gateway implements, built once per config snapshot.

Each plugin is a class built from the route's plugin conf and the shared `Services`; the
pipeline runs them in APISIX's priority order (higher first). `access(ctx)` returns None to
go on or a response to stop; a plugin with `handle(ctx)` (ai-proxy) replaces the upstream.
Unknown plugin names are an error for that route, so a route never runs without a plugin
its author relied on (an auth plugin, say).
"""

from __future__ import annotations

from dataclasses import replace

from ..config import ConfigError, Route
from .ai_proxy import AiProxy
from .key_auth import KeyAuth
from .opa import Opa
from .proxy_rewrite import ProxyRewrite

REGISTRY = {cls.name: cls for cls in (KeyAuth, Opa, ProxyRewrite, AiProxy)}


def build_route(route: Route, services) -> Route:
    plugins = []
    handler = None
    for name, conf in route.plugins.items():
        cls = REGISTRY.get(name)
        if cls is None:
            raise ConfigError(f"unknown plugin {name!r}")
        if conf is None:
            conf = {}
        if not isinstance(conf, dict):
            raise ConfigError(f"plugin {name} conf must be an object")
        if conf.get("_meta", {}).get("disable"):
            continue
        plugin = cls(conf, services)
        if hasattr(plugin, "handle"):
            handler = plugin
        else:
            plugins.append(plugin)
    plugins.sort(key=lambda p: -p.priority)
    if handler is None and route.upstream is None:
        raise ConfigError("route has neither an upstream nor ai-proxy")
    return replace(route, pipeline=tuple(plugins), handler=handler)
