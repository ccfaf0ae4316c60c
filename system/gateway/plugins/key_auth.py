"""`key-auth` as APISIX: the consumer whose key matches header `apikey` (or query `apikey`).

Upstream, the consumer goes as APISIX's X-Consumer-* headers and, when the gateway has an
identity key, with its signature (system/common/identity.py), so that the services behind
believe them from the gateway alone."""

from __future__ import annotations

from system.common import identity

from ..context import RequestCtx, error


class KeyAuth:
    name = "key-auth"
    priority = 2500

    def __init__(self, conf: dict, services) -> None:
        self.header = str(conf.get("header", "apikey"))
        self.query = str(conf.get("query", "apikey"))
        self.hide_credentials = bool(conf.get("hide_credentials", False))
        self.identity_key = getattr(services, "identity_key", b"")

    async def access(self, ctx: RequestCtx):
        req = ctx.request
        key = req.headers.get(self.header)
        if key is None and self.query:
            key = req.query.get(self.query)
        if not key:
            return error(401, "Missing API key in request", ctx.request_id)
        consumer = ctx.config.consumers_by_key.get(key)
        if consumer is None:
            return error(401, "Invalid API key in request", ctx.request_id)
        ctx.consumer = consumer
        groups = ",".join(consumer.groups)
        if self.identity_key:
            ctx.upstream_headers.update(identity.headers(self.identity_key, consumer.username, groups, consumer.role))
        else:
            ctx.upstream_headers.update({identity.USERNAME: consumer.username, identity.GROUPS: groups,
                                         identity.ROLE: consumer.role})
        return None
