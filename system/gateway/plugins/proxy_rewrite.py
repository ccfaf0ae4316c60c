"""`proxy-rewrite` as APISIX (the `uri`, `regex_uri` and `headers.set` parts).

A `$secret://` reference in a header value is resolved at request time through the
gateway's SecretStore, as APISIX 3.x resolves any string field of a plugin's conf; without
the secret there is no call (503).
"""

from __future__ import annotations

import re

from ..config import ConfigError
from ..context import RequestCtx, error
from ..secrets import SecretUnavailable


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
        self.set_headers = {str(k): str(v) for k, v in (headers.get("set") or {}).items()} if isinstance(headers, dict) else {}
        self.secret_headers = {k for k, v in self.set_headers.items() if "$secret://" in v}
        self.secrets = services.secrets if self.secret_headers else None

    async def access(self, ctx: RequestCtx):
        if self.uri:
            ctx.path = self.uri
        elif self.regex:
            new, n = self.regex[0].subn(self.regex[1], ctx.path, count=1)
            if n:
                ctx.path = new or "/"
        if self.set_headers:
            ctx.upstream_headers.update(self.set_headers)
        for name in self.secret_headers:
            try:
                ctx.upstream_headers[name] = await self.secrets.resolve(self.set_headers[name], ctx.config.secret_managers)
            except SecretUnavailable:
                return error(503, "upstream credentials unavailable (secret store)", ctx.request_id)
        return None
