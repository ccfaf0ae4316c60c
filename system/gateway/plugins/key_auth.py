"""`key-auth` as APISIX: the consumer whose key matches header `apikey` (or query `apikey`)."""

from __future__ import annotations

from ..context import RequestCtx, error


class KeyAuth:
    name = "key-auth"
    priority = 2500

    def __init__(self, conf: dict, services) -> None:
        self.header = str(conf.get("header", "apikey"))
        self.query = str(conf.get("query", "apikey"))
        self.hide_credentials = bool(conf.get("hide_credentials", False))

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
        h = ctx.upstream_headers
        h["X-Consumer-Username"] = consumer.username
        h["X-Consumer-Groups"] = ",".join(consumer.groups)
        h["X-Consumer-Role"] = consumer.role
        return None
