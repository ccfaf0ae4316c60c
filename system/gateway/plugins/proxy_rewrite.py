"""`proxy-rewrite` as APISIX (the `uri`, `regex_uri` and `headers.set` parts)."""

from __future__ import annotations

import re

from ..config import ConfigError
from ..context import RequestCtx


class ProxyRewrite:
    name = "proxy-rewrite"
    priority = 1008

    def __init__(self, conf: dict, services) -> None:
        self.uri = conf.get("uri")
        self.regex = None
        if conf.get("regex_uri"):
            pair = conf["regex_uri"]
            if not isinstance(pair, list) or len(pair) != 2:
                raise ConfigError("regex_uri must be [pattern, replacement]")
            try:
                self.regex = (re.compile(pair[0]), re.sub(r"\$(\d)", r"\\\1", pair[1]))
            except re.error as exc:
                raise ConfigError(f"bad regex_uri: {exc}") from exc
        headers = conf.get("headers") or {}
        self.set_headers = dict(headers.get("set") or {}) if isinstance(headers, dict) else {}

    async def access(self, ctx: RequestCtx):
        if self.uri:
            ctx.path = self.uri
        elif self.regex:
            new, n = self.regex[0].subn(self.regex[1], ctx.path, count=1)
            if n:
                ctx.path = new or "/"
        if self.set_headers:
            ctx.upstream_headers.update(self.set_headers)
        return None
