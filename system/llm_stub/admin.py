"""The admin routes (X-Admin-Token): rotate the key, set fault modes and latency, read the counters."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException

from system.llm_stub.faults import FaultConfig
from system.llm_stub.models import FaultUpdate, KeyRotation, LatencyUpdate
from system.llm_stub.stub import StubDep, bearer

log = logging.getLogger(__name__)


def require_admin(stub: StubDep, x_admin_token: Annotated[str | None, Header()] = None,
                  authorization: Annotated[str | None, Header()] = None) -> None:
    admin_token = stub.settings.admin_token
    if admin_token is None:
        raise HTTPException(403, "admin endpoints are disabled (no admin token configured)")
    presented = x_admin_token or bearer(authorization) or ""
    if not hmac.compare_digest(presented.encode(), admin_token.get_secret_value().encode()):
        raise HTTPException(401, "admin token required (X-Admin-Token)")


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)], responses={
    401: {"description": "No or a wrong admin token (X-Admin-Token)"},
    403: {"description": "The admin endpoints are disabled (no admin token configured)"}})


@router.put("/api-key", summary="Rotate the API key; the old one works for grace_s more")
async def rotate_key(body: KeyRotation, stub: StubDep):
    stub.keys.rotate(body.key, body.grace_s)
    log.info("api key rotated (generation %d)", stub.keys.generation)
    return stub.keys.status()


@router.get("/api-key", summary="Key status (never the key)")
async def key_status(stub: StubDep):
    stub.refresh_key_file()
    return stub.keys.status()


@router.get("/faults")
async def get_faults(stub: StubDep):
    return stub.faults.status()


@router.put("/faults", summary="Set fault modes: error_rate, rate_limit_rate + retry_after_s, hang_rate + hang_s, "
                               "stall_rate + stall_after_tokens")
async def set_faults(body: FaultUpdate, stub: StubDep):
    stub.faults.configure(FaultConfig(**body.model_dump(exclude={"seed"})), seed=body.seed)
    return stub.faults.status()


@router.delete("/faults", summary="Heal: no faults")
async def clear_faults(stub: StubDep):
    stub.faults.clear()
    return stub.faults.status()


@router.get("/latency")
async def get_latency(stub: StubDep):
    return stub.latency.describe()


@router.put("/latency", summary="Change the latency model (fields left out keep their value)")
async def set_latency(body: LatencyUpdate, stub: StubDep):
    m = stub.latency
    for field in ("ttft_ms", "ttft_sigma", "tokens_per_s", "zero"):
        value = getattr(body, field)
        if value is not None:
            setattr(m, field, value)
    if body.seed is not None:
        m.reseed(body.seed)
    return m.describe()


@router.get("/stats", summary="Request counters")
async def stats(stub: StubDep):
    return dict(stub.stats)


@router.delete("/stats", summary="Reset the request counters")
async def reset_stats(stub: StubDep):
    stub.stats.clear()
    return {}
