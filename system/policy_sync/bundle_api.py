"""The two routes OPA calls in bundle mode: its bundle download (long-polled) and its status reports.

OPA is configured with policy_sync as a service, e.g.

    services.policy_sync.url = https://policy_sync:8000/opa
    bundles.policies.resource = bundles/policies.tar.gz
    bundles.policies.polling.long_polling_timeout_seconds = 10
    status.service = policy_sync
"""

from __future__ import annotations

from fastapi import APIRouter, Header, Response

from system.policy_sync.bundle import CONTENT_TYPE, RESOURCE, wait_of
from system.policy_sync.bundle_sync import BundleSync

MAX_WAIT_S = 60.0  # a long poll is held at most this long, whatever OPA asks


def router(sync: BundleSync) -> APIRouter:
    r = APIRouter(prefix="/opa", tags=["opa"])

    @r.get(f"/{RESOURCE}", summary="The policy bundle, long-polled by OPA",
           response_class=Response,
           responses={200: {"content": {CONTENT_TYPE: {}}, "description": "A bundle newer than If-None-Match"},
                      304: {"description": "No newer bundle within the wait OPA asked for"},
                      503: {"description": "No snapshot of etcd yet"}})
    async def bundle(if_none_match: str | None = Header(None), prefer: str | None = Header(None)) -> Response:
        seen = (if_none_match or "").strip('"') or None
        current = sync.board.current
        if current is None or current.etag == seen:
            current = await sync.board.wait_newer(seen, min(wait_of(prefer), MAX_WAIT_S)) or sync.board.current
        if current is None:
            return Response(status_code=503, content=b"no snapshot of etcd yet")
        if current.etag == seen:
            return Response(status_code=304, headers={"ETag": f'"{current.etag}"'})
        sync.fetched(current.etag)
        return Response(content=current.body, media_type=CONTENT_TYPE, headers={"ETag": f'"{current.etag}"'})

    @r.post("/status", summary="OPA's status plugin reports what it activated (and what it refused)",
            status_code=204, response_class=Response)
    def status(report: dict) -> Response:
        sync.on_status(report)
        return Response(status_code=204)

    return r
