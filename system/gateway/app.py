"""The gateway process: one catch-all aiohttp handler, the config source, the secret store.

    settings = GatewaySettings(etcd_endpoint="http://127.0.0.1:2379")
    web.run_app(Gateway(settings).make_app(), port=settings.port)

Own endpoints (documented in `/openapi.json`): `/healthz`, `/readyz`, `/gateway/status`.
With an admin key, APISIX's Admin API (admin.py) listens on its own port (9180).
Everything else is matched against the routes from etcd. Every response the handler makes
carries X-Request-Id (the caller's if it sent a sane one); the catch-all route sees every
parsable request. Only a request aiohttp cannot parse at all gets its plain 400 without one.

Every answer to a routed request (relayed, streamed, or the gateway's own 401/403/404/5xx)
also carries Server-Timing, appended to any the upstream sent, stamped as its headers go out:

    Server-Timing: mongo_read;dur=1.20, gateway;dur=0.31, opa;dur=0.82, upstream;dur=2.05

`gateway` is the handler's own time (total minus the two waits), the service time of the
model's "gateway" step; `opa` is the OPA round trip (only if the opa plugin asked OPA);
`upstream` is request sent to response headers received, summed over retried nodes (only if
the request was forwarded; ai-proxy's LLM call counts as the upstream). Milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time

import aiohttp
from aiohttp import web

from system.common.etcd import EtcdTls
from system.common.tls import client_context, server_context

from .admin import AdminApi
from .config import Config, ConfigError, build_config
from .context import REQUEST_ID, RequestCtx, add_server_timing, error, server_timing
from .etcd_http import EtcdHttp, tls_session
from .etcd_kv import EtcdKV
from .etcd_source import EtcdConfigSource
from .metrics import GatewayMetrics
from .openapi import OPENAPI
from .plugins import build_route
from .proxy import Forwarder
from .secrets import SecretStore
from .settings import GatewaySettings

log = logging.getLogger(__name__)

_RID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class Services:
    """What plugins share: the HTTP client session, the secret store, the identity key."""

    def __init__(self, session: aiohttp.ClientSession, secrets: SecretStore, identity_key: bytes = b""):
        self.session = session
        self.secrets = secrets
        self.identity_key = identity_key


class Gateway:
    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        self.config = Config(revision=0, routes={}, consumers={}, secret_managers={}, errors={}).index()
        self.loaded = False
        self.started_at = time.time()
        self.session: aiohttp.ClientSession | None = None
        self.services: Services | None = None
        self.source: EtcdConfigSource | None = None
        self.forwarder: Forwarder | None = None
        self._tasks: list[asyncio.Task] = []
        self.metrics = GatewayMetrics()
        self._own = {
            "/healthz": self.healthz,
            "/readyz": self.readyz,
            "/gateway/status": self.status,
            "/openapi.json": self.openapi,
            "/metrics": self.prometheus,
            # where APISIX's prometheus plugin serves them (its export port, 9091)
            "/apisix/prometheus/metrics": self.prometheus,
        }

    # -- lifecycle ------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        # [\s\S]: a decoded path may hold a newline, which `.` would not match.
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.handle)
        app.on_startup.append(self._startup)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _startup(self, app: web.Application) -> None:
        s = self.settings
        # Upstreams with `scheme: https` are checked against the lab CA (system/common/tls.py).
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=10, enable_cleanup_closed=True, ssl=client_context())
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",))
        secrets = SecretStore(
            self.session, role_id=s.vault_role_id.get_secret_value(), secret_id=s.vault_secret_id.get_secret_value(),
            approle_mount=s.vault_approle_mount, default_uri=s.vault_addr, ttl_s=s.secret_ttl_s,
            max_stale_s=s.secret_max_stale_s, timeout_s=s.vault_timeout_s, retry_backoff_s=s.secret_retry_backoff_s)
        self.services = Services(self.session, secrets, s.identity_key.get_secret_value().encode())
        self.metrics.watch_secrets(secrets.status)
        self.forwarder = Forwarder(self.session)
        # The watch stream gets its own session so its long-lived connection never sits in
        # the hot path's pool.
        self._etcd = EtcdHttp(tls_session(EtcdTls.in_dir(s.etcd_tls_dir)), s.etcd_user,
                              s.etcd_password.get_secret_value())
        self.source = EtcdConfigSource(self._etcd, s.etcd_endpoints, s.etcd_prefix, self.apply,
                                       timeout_s=s.etcd_timeout_s, reconnect_min_s=s.etcd_reconnect_min_s,
                                       reconnect_max_s=s.etcd_reconnect_max_s,
                                       probe_interval_s=s.etcd_probe_interval_s, probe_timeout_s=s.etcd_probe_timeout_s,
                                       probe_failures=s.etcd_probe_failures)
        self._admin = None
        if s.admin_key.get_secret_value():
            admin = AdminApi(EtcdKV(self._etcd, s.etcd_endpoints, timeout_s=s.etcd_timeout_s),
                             s.admin_key.get_secret_value(), s.etcd_prefix, self.services)
            self._admin = web.AppRunner(admin.make_app(), access_log=None)
            await self._admin.setup()
            await web.TCPSite(self._admin, s.host, s.admin_port, ssl_context=server_context()).start()
        self._tasks = [asyncio.create_task(self.source.run(), name="etcd-source"),
                       asyncio.create_task(secrets.refresh_loop(lambda: self.config.secret_managers), name="secret-refresh")]

    async def _cleanup(self, app: web.Application) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._admin is not None:
            await self._admin.cleanup()
        if self.session:
            await self.session.close()
        await self._etcd.close()

    def apply(self, raw: dict, revision: int) -> None:
        """Build a new snapshot from etcd's key/values and swap it in."""
        cfg = build_config(raw, revision, self.settings.etcd_prefix)
        built = {}
        for rid, route in cfg.routes.items():
            try:
                built[rid] = build_route(route, self.services)
            except (ConfigError, TypeError, ValueError, KeyError, AttributeError) as exc:
                cfg.errors[f"{self.settings.etcd_prefix}/routes/{rid}"] = str(exc)
        cfg.routes = built
        self.config = cfg.index()
        self.loaded = True
        if cfg.errors:
            log.warning("config revision %s: skipped %s", revision, cfg.errors)
        log.info("config revision %s: %d routes, %d consumers", revision, len(cfg.routes), len(cfg.consumers))

    # -- the hot path ---------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        rid = request.headers.get(REQUEST_ID)
        if rid is None or not _RID_OK.match(rid):
            rid = os.urandom(16).hex()
        ctx = None
        try:
            own = self._own.get(request.path)
            if own is not None:
                resp = await own(request)
                resp.headers[REQUEST_ID] = rid
                return resp
            self.metrics.count_request()
            cfg = self.config
            route = cfg.match(request.method, request.path)
            if not self.loaded:
                # A gateway that has not read etcd yet knows no route: "404 Route Not Found"
                # would report its start-up as a missing route.
                resp = error(503, "gateway config not loaded from etcd yet", rid)
                resp.headers["Retry-After"] = "1"
            elif route is None:
                resp = error(404, "404 Route Not Found", rid)
            else:
                ctx = RequestCtx(request, route, cfg, rid, started)
                for plugin in route.pipeline:
                    resp = await plugin.access(ctx)
                    if resp is not None:
                        break
                else:
                    resp = await (route.handler.handle(ctx) if route.handler is not None
                                  else self.forwarder.forward(ctx))
        except web.HTTPRequestEntityTooLarge:
            resp = error(413, f"body over {self.settings.max_body_bytes} bytes", rid)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("request %s %s %s failed", rid, request.method, request.path)
            resp = error(500, "gateway error", rid)
        # A streamed response was stamped by relay() before its headers went out.
        if not resp.prepared:
            add_server_timing(resp.headers, server_timing(started, ctx.opa_s, ctx.upstream_s) if ctx
                              else server_timing(started))
        self._observe(request, resp, ctx, started)
        return resp

    def _observe(self, request: web.Request, resp: web.StreamResponse, ctx: RequestCtx | None, started: float) -> None:
        route = ctx.route if ctx else None
        body_out = resp.body_length if resp.prepared else len(resp.body or b"") if isinstance(resp, web.Response) else 0
        self.metrics.observe(
            code=resp.status, route=route.id if route else "",
            matched_uri=_matched_uri(route.uris, request.path) if route else "",
            service=str(route.value.get("service_id", "")) if route else "",
            consumer=ctx.consumer.username if ctx and ctx.consumer else "", node=ctx.node if ctx else "",
            total_ms=(time.perf_counter() - started) * 1000,
            upstream_ms=None if ctx is None or ctx.upstream_s is None else ctx.upstream_s * 1000,
            ingress=_header_bytes(request.headers) + (request.content_length or 0),
            egress=_header_bytes(resp.headers) + body_out)

    # -- own endpoints --------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed()
        return web.json_response({"status": "ok", "service": "gateway"})

    async def readyz(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed()
        # Ready once a config has been loaded: like APISIX, the gateway keeps serving its
        # last config while etcd is away, so etcd's state is reported, not required.
        src = self.source
        checks = {"config": "ok" if self.loaded else "down: no config loaded from etcd yet",
                  "etcd": "ok" if src and src.connected else f"down: {src.last_error if src else 'not started'}"}
        return web.json_response({"ready": self.loaded, "service": "gateway", "checks": checks},
                                 status=200 if self.loaded else 503)

    async def status(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed()
        cfg, src = self.config, self.source
        return web.json_response({
            "revision": cfg.revision,
            "loaded": self.loaded,
            "routes": sorted(cfg.routes),
            "consumers": len(cfg.consumers),
            "errors": cfg.errors,
            "etcd": {"connected": bool(src and src.connected), "endpoint": src.endpoint if src else None,
                     "loads": src.loads if src else 0, "last_error": src.last_error if src else None},
            "secrets": self.services.secrets.status() if self.services else {},
            "uptime_s": round(time.time() - self.started_at, 3),
        })

    async def prometheus(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed()
        src = self.source
        body = self.metrics.exposition(bool(src and src.connected), self.config.revision)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def openapi(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed()
        return web.Response(body=_OPENAPI_BYTES, content_type="application/json")


_OPENAPI_BYTES = json.dumps(OPENAPI).encode()


def _matched_uri(uris: tuple[str, ...], path: str) -> str:
    """The route's uri that matched `path` (APISIX's matched_uri label)."""
    for uri in uris:
        if path == uri or (uri.endswith("*") and path.startswith(uri[:-1])):
            return uri
    return uris[0] if uris else ""


def _header_bytes(headers) -> int:
    return sum(len(k) + len(v) + 4 for k, v in headers.items())


def _method_not_allowed() -> web.Response:
    return web.Response(status=405, body=b'{"message": "method not allowed"}', content_type="application/json",
                        headers={"Allow": "GET, HEAD"})


def run(settings: GatewaySettings | None = None) -> None:
    settings = settings or GatewaySettings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    web.run_app(Gateway(settings).make_app(), host=settings.host, port=settings.port, access_log=None,
                print=None, shutdown_timeout=2, ssl_context=server_context())
