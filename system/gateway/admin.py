"""APISIX's Admin API (v3 shapes) on its own port: the routes, upstreams, consumers, secrets
and plugin configs that every gateway watches, written to the same etcd layout.

    curl -X PUT http://gateway:9180/apisix/admin/routes/r1 -H "X-API-KEY: $ADMIN_KEY" \\
         -d '{"uri": "/anything", "upstream": {"nodes": {"httpbin:80": 1}}}'

Answers as APISIX does:
- one object: {"key": "/apisix/routes/r1", "value": {...}, "createdIndex", "modifiedIndex"};
- a list: {"total": n, "list": [<objects>]};
- PUT answers 201 when it created the key, 200 when it replaced it; POST makes an id;
  PATCH merges objects (arrays replaced); DELETE answers {"deleted": "1", "key": ...};
- a missing key: 404 {"message": "Key not found"}; a bad body: 400 {"error_msg": ...};
  no or a wrong X-API-KEY: 401 {"error_msg": "failed to check token"}.

A body is checked against APISIX-style JSON Schemas (schema.py, also published in the
OpenAPI document), then by the parsers the data plane itself uses (config.py, the plugin
registry), so what the Admin API accepts is what the gateways can serve. A route naming an
upstream or plugin config that does not exist: 404. etcd unreachable: 503, and nothing is
reported written.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from typing import Any

from aiohttp import web

from . import schema
from .config import ConfigError, build_config, parse_consumer, parse_upstream
from .etcd_kv import EtcdKV, EtcdUnavailable
from .plugins import build_route

RESOURCES = ("routes", "upstreams", "consumers", "secrets", "plugin_configs")
MAX_BODY_BYTES = 1 << 20


class AdminApi:
    def __init__(self, kv: EtcdKV, admin_key: str, prefix: str = "/apisix", services=None):
        self.kv = kv
        self.admin_key = admin_key
        self.prefix = prefix.rstrip("/")
        self.services = services

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._errors])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/openapi.json", self.openapi)
        base = "/apisix/admin/{resource}"
        app.router.add_route("GET", base, self.list)
        app.router.add_route("PUT", base, self.put)
        app.router.add_route("POST", base, self.post)
        # Secrets are addressed by manager and id (secrets/vault/1): the id may hold a slash.
        item = base + r"/{ident:[^{}]+}"
        app.router.add_route("GET", item, self.get)
        app.router.add_route("PUT", item, self.put)
        app.router.add_route("PATCH", item, self.patch)
        app.router.add_route("DELETE", item, self.delete)
        return app

    # -- plumbing ---------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler):
        if request.path.startswith("/apisix/admin"):
            given = request.headers.get("X-API-KEY") or request.query.get("api_key") or ""
            if not self.admin_key or not hmac.compare_digest(given.encode(), self.admin_key.encode()):
                return _error(401, "failed to check token")
            resource = request.match_info.get("resource")
            if resource is not None and resource not in RESOURCES:
                return web.json_response({"error_msg": f"not found resource {resource!r}",
                                          "resources": list(RESOURCES)}, status=404)
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"body over {MAX_BODY_BYTES} bytes")
        except EtcdUnavailable as exc:
            return _error(503, f"etcd unavailable: {exc}")
        except web.HTTPException as exc:
            if exc.status == 404:
                return web.json_response({"message": "404 Route Not Found"}, status=404)
            if exc.status == 405:
                resp = _error(405, f"method {request.method} not allowed here")
                resp.headers["Allow"] = _allowed(request.path) or exc.headers.get("Allow", "")
                return resp
            raise

    def _key(self, resource: str, ident: str) -> str:
        return f"{self.prefix}/{resource}/{ident}"

    # -- own endpoints ----------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": "gateway-admin"})

    async def readyz(self, request: web.Request) -> web.Response:
        try:
            await self.kv.list(self.prefix + "/routes/")
        except EtcdUnavailable as exc:
            return web.json_response({"ready": False, "service": "gateway-admin", "checks": {"etcd": f"down: {exc}"}},
                                     status=503)
        return web.json_response({"ready": True, "service": "gateway-admin", "checks": {"etcd": "ok"}})

    async def openapi(self, request: web.Request) -> web.Response:
        from .openapi import ADMIN_OPENAPI

        return web.json_response(ADMIN_OPENAPI)

    # -- the API ----------------------------------------------------------------------------

    async def list(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        entries = await self.kv.list(f"{self.prefix}/{resource}/")
        return web.json_response({"total": len(entries), "list": [_item(e) for e in entries]})

    async def get(self, request: web.Request) -> web.Response:
        entry = await self.kv.get(self._key(request.match_info["resource"], request.match_info["ident"]))
        if entry is None:
            return web.json_response({"message": "Key not found"}, status=404)
        return web.json_response(_item(entry))

    async def put(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        if resource == "secrets" and "ident" not in request.match_info:
            resp = _error(405, "secrets are named by their path: PUT /apisix/admin/secrets/vault/<id>")
            resp.headers["Allow"] = "GET"
            return resp
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        ident = request.match_info.get("ident") or _ident_in(resource, body)
        if not ident:
            what = "username" if resource == "consumers" else "id"
            return _error(400, f"missing {what}: give it in the path or the body")
        return await self._write(resource, ident, body)

    async def post(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        if resource in ("consumers", "secrets"):
            resp = _error(405, f"POST makes an id; {resource} are named: use PUT")
            resp.headers["Allow"] = "GET" if resource == "secrets" else "GET, PUT"
            return resp
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        return await self._write(resource, f"{time.time_ns() // 1000:020d}", body)

    async def patch(self, request: web.Request) -> web.Response:
        resource, ident = request.match_info["resource"], request.match_info["ident"]
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        entry = await self.kv.get(self._key(resource, ident))
        if entry is None:
            return web.json_response({"message": "Key not found"}, status=404)
        merged = _merge(entry.value if isinstance(entry.value, dict) else {}, body)
        return await self._write(resource, ident, merged, created_at=merged.get("create_time"))

    async def delete(self, request: web.Request) -> web.Response:
        key = self._key(request.match_info["resource"], request.match_info["ident"])
        if not await self.kv.delete(key):
            return web.json_response({"message": "Key not found"}, status=404)
        return web.json_response({"deleted": "1", "key": key})

    async def _write(self, resource: str, ident: str, body: dict, created_at: int | None = None) -> web.Response:
        if not _valid_ident(resource, ident):
            return _error(400, f"invalid id {ident[:100]!r}: " + ("secrets/vault/<id>, " if resource == "secrets" else "")
                          + "letters, digits and _ . - (1 to 64)")
        value = {k: v for k, v in body.items() if k not in ("create_time", "update_time")}
        # The body as sent, before the path's id replaces the one it may carry.
        problem = schema.problem(resource, value)
        if problem:
            return _error(400, f"invalid configuration: {problem}")
        if resource == "consumers":
            value["username"] = ident
        elif resource != "secrets":
            value["id"] = ident
        referred, missing = await self._referred(resource, value)
        if missing:
            return _error(404, missing)
        problem = self._invalid(resource, ident, value, referred)
        if problem and value.get("plugin_config_id") is not None and value.get("upstream") is None \
                and value.get("upstream_id") is None:
            # Well formed, but the plugin config it names gives it nowhere to send a request:
            # the conflict is with that config's current state.
            return _error(409, f"invalid configuration: {problem} (plugin config [{value['plugin_config_id']}] "
                               "has no ai-proxy and the route no upstream)")
        if problem:
            return _error(400, f"invalid configuration: {problem}")
        now = int(time.time())
        value["create_time"] = int(created_at or now)
        value["update_time"] = now
        created, entry = await self.kv.put(self._key(resource, ident), value)
        return web.json_response(_item(entry), status=201 if created else 200)

    async def _referred(self, resource: str, value: dict) -> tuple[dict, str | None]:
        """The upstream and plugin config a route names, by key; or what it names that does not
        exist, in APISIX's words (but 404 where APISIX answers 400: the body is well formed,
        what it names is not found)."""
        referred: dict = {}
        if resource != "routes":
            return referred, None
        for field, resource_of, what in _REFERENCES:
            if value.get(field) is not None:
                key = self._key(resource_of, str(value[field]))
                found = await self.kv.get(key)
                if found is None:
                    return referred, f"failed to fetch {what} [{value[field]}]"
                referred[key] = found.value
        return referred, None

    def _invalid(self, resource: str, ident: str, value: dict, referred: dict) -> str | None:
        """What the data plane would refuse in `value` that the schema lets through, or None."""
        try:
            if resource == "routes":
                # A disabled route (status 0) is checked as if enabled: it must serve once enabled.
                cfg = build_config({self._key("routes", ident): {**value, "status": 1}, **referred}, 0, self.prefix)
                if cfg.errors:
                    return "; ".join(cfg.errors.values())
                build_route(cfg.routes[ident], self.services)
            elif resource == "upstreams":
                parse_upstream(value)
            elif resource == "consumers":
                parse_consumer(ident, value)
        except (ConfigError, TypeError, ValueError, KeyError, AttributeError) as exc:
            return str(exc)
        return None


_REFERENCES = (("upstream_id", "upstreams", "upstream info by upstream id"),
               ("plugin_config_id", "plugin_configs", "plugin config info by plugin config id"))


def _allowed(path: str) -> str:
    """The methods a path takes, per resource: consumers and secrets are named, never POSTed."""
    parts = path.removeprefix("/apisix/admin/").split("/")
    if not path.startswith("/apisix/admin/") or parts[0] not in RESOURCES:
        return ""
    if len(parts) > 1:
        return "DELETE, GET, PATCH, PUT"
    return {"consumers": "GET, PUT", "secrets": "GET"}.get(parts[0], "GET, POST, PUT")


def _valid_ident(resource: str, ident: str) -> bool:
    if resource == "secrets":
        manager, _, ident = ident.partition("/")
        if manager != "vault":
            return False
    pattern = schema.CONSUMER["properties"]["username"]["pattern"] if resource == "consumers" else schema.ID_PATTERN
    return re.fullmatch(pattern, ident) is not None


def _ident_in(resource: str, body: dict) -> str | None:
    ident = body.get("username" if resource == "consumers" else "id")
    return str(ident) if ident not in (None, "") else None


async def _body(request: web.Request) -> dict | web.Response:
    raw = await request.read()
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        return _error(400, "invalid request body: not JSON")
    if not isinstance(body, dict):
        return _error(400, "invalid request body: must be a JSON object")
    return body


def _merge(base: dict, patch: dict) -> dict:
    out = dict(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _item(entry) -> dict[str, Any]:
    return {"key": entry.key, "value": entry.value, "createdIndex": entry.create_revision,
            "modifiedIndex": entry.mod_revision}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error_msg": message}, status=status)
