"""policy_sync's HTTP face: /status, /metrics, /healthz, /readyz. The sync loop runs in a thread."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI

from system.common.etcd import EtcdTls
from system.common.service import create_app
from system.policy_sync import bundle_api
from system.policy_sync.bundle_sync import BundleSync
from system.policy_sync.metrics import SyncCollector
from system.policy_sync.opa import OpaData, OpaRouted
from system.policy_sync.settings import PolicySyncSettings
from system.policy_sync.source import FailoverSources
from system.policy_sync.syncer import PolicySync


def build_app(settings: PolicySyncSettings | None = None, *, sync: PolicySync | None = None) -> FastAPI:
    """`GET /status` answers, e.g., {"revision": 42, "synced": true, "etcd_connected": true,
    "policies": {"authz": 41}, "errors": {}, ...}: every etcd change up to `revision` is loaded."""
    settings = settings or PolicySyncSettings()
    opa = None
    if sync is None and settings.mode == "bundle":
        opa = OpaData(settings.opa_url, settings.opa_timeout_s)
        sync = BundleSync(_sources(settings), opa, heartbeat_s=settings.heartbeat_s,
                          verify_interval_s=settings.verify_interval_s, backoff_min_s=settings.backoff_min_s,
                          backoff_max_s=settings.backoff_max_s, resync_interval_s=settings.resync_interval_s)
    elif sync is None:
        opa = OpaRouted(settings.opa_url, settings.opa_timeout_s)
        sync = PolicySync(_sources(settings),
                          opa, heartbeat_s=settings.heartbeat_s, verify_interval_s=settings.verify_interval_s,
                          backoff_min_s=settings.backoff_min_s, backoff_max_s=settings.backoff_max_s,
                          resync_interval_s=settings.resync_interval_s)

    def synced() -> None:
        if not sync.synced.is_set():
            raise RuntimeError("no full sync with etcd yet")

    probes = {"synced": synced}
    if hasattr(sync.opa, "ping"):  # in bundle mode `synced` also means OPA reported the snapshot active
        probes["opa"] = sync.opa.ping
    app = create_app("policy_sync", readiness=probes,
                     description="OPA's sidecar: mirrors etcd's /policies/ prefix into OPA.")
    app.state.sync = sync
    app.state.metrics.registry.register(SyncCollector(sync))

    if isinstance(sync, BundleSync):
        app.include_router(bundle_api.router(sync))

    @app.get("/status", tags=["status"], summary="The etcd revision OPA has loaded, per policy too")
    def status() -> dict:
        return sync.status()

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        sync.start()
        try:
            yield
        finally:
            sync.stop()
            if opa is not None:
                opa.close()

    app.router.lifespan_context = lifespan
    return app


def _sources(settings: PolicySyncSettings) -> FailoverSources:
    return FailoverSources(settings.etcd_endpoints, settings.policy_prefix, settings.etcd_timeout_s,
                           tls=EtcdTls.in_dir(settings.etcd_tls_dir))
