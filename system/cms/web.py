"""What the CMS's routers share: the caller, the errors, the write answer, `?wait=enforced`.

The policies (api.py) and the policy documents (documents_api.py) are the same write
protocol over different stores, so they answer alike: same error bodies, same
Server-Timing, same wait on policy_sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field

from system.cms.metrics import CmsMetrics
from system.cms.policies import POLICY_ID_PATTERN, Conflict, NotFound, PolicyService, WriteFailed, WriteResult, step_timings
from system.cms.reconciler import Reconciler
from system.cms.settings import CmsSettings
from system.cms.stores import MongoMetadata, PolicySyncProbe, RegoInvalid, StoreUnavailable
from system.common.identity import HEADER as ASSERTION
from system.common.identity import USERNAME

# ------------------------------------------------------------------ models


def _utf8(value: str) -> str:
    # JSON may carry lone surrogates (\ud800); etcd, MongoDB and OPA take UTF-8 only.
    value.encode("utf-8")
    return value


Utf8 = Annotated[str, AfterValidator(_utf8)]


class RecordSummary(BaseModel):
    """A policy's or a document's line in a listing: the same record, whatever it holds."""

    id: str
    author: str
    description: str
    version: int
    status: str
    etcd_revision: int | None
    updated_at: datetime | None = None


class HistoryEntry(BaseModel):
    version: int
    author: str
    description: str
    etcd_revision: int | None
    at: datetime
    op: str = "put"
    sha256: str | None = None


class RecordOut(BaseModel):
    """A policy or a document with its history; the subclass adds the content."""

    id: str
    author: str
    description: str
    version: int
    status: Literal["pending", "active", "deleted"]
    etcd_revision: int | None
    sha256: str | None = None
    updated_at: datetime | None = None
    pending_version: int | None = None
    history: list[HistoryEntry] = []


class UpdateOut(BaseModel):
    result: str = Field(description='"update successful" (or "deletion successful")')
    id: str
    version: int
    etcd_revision: int | None
    status: Literal["active", "deleted"]
    created: bool = False
    unchanged: bool = Field(False, description="same content and description: no new version was written")
    enforced: bool | None = Field(None, description="with ?wait=enforced: whether the local OPA loaded it")
    enforce_detail: str | None = None


class RepairOut(BaseModel):
    id: str
    action: str
    detail: str


ERRORS = {
    400: {"description": "Invalid Rego (OPA's message), a policy document that is no JSON object, invalid id, "
                         "or malformed JSON; nothing was written"},
    401: {"description": f"No {USERNAME} header, or no valid {ASSERTION} for it (the gateway's)"},
    404: {"description": "No such policy, policy document or user"},
    409: {"description": "A concurrent update won, or expected_version did not match; nothing was written"},
    413: {"description": "Body over the size limit"},
    503: {"description": "MongoDB, etcd or OPA unreachable; the body names the store, the cause and the outcome"},
}

# The writes' 409 and 503 in detail (PUT and DELETE of a policy or a policy document).
WRITE_ERRORS = {
    409: {"description": "A concurrent update is in flight (its version is still pending while etcd is healthy) "
                         "or won, or expected_version did not match; nothing was written"},
    503: {
        "description": "A store could not take the write. `outcome`: `not applied` (nothing of this request can "
                       "become active; Retry-After is set when etcd refused or the policy waits on etcd), `unknown` "
                       "(etcd did not answer; the reconciler settles it) or `committed` (in etcd; the reconciler "
                       "activates the metadata)",
        "headers": {"Retry-After": {"description": "seconds until a retry may succeed (the reconcile interval); "
                                                   "set with etcd's `not applied`", "schema": {"type": "integer"}}},
        "content": {"application/json": {"examples": {
            "pending_while_etcd_down": {
                "summary": "the policy has an update pending and etcd cannot commit (lost quorum or unreachable)",
                "value": {"error": "Service Unavailable", "detail": {
                    "store": "etcd", "cause": "etcd unavailable (lost quorum or unreachable): UNAVAILABLE: "
                                              "etcdserver: no leader",
                    "outcome": "not applied", "policy": "authz", "pending_version": 7,
                    "detail": "version 7 of 'authz' is pending since 2025-01-01 12:00:00+00:00 and etcd cannot "
                              "commit; nothing of this request was written. The reconciler settles version 7 "
                              "within about 20 s once etcd is back; retry then"}}},
            "etcd_refused": {
                "summary": "etcd refused this write (no leader, unreachable); rolled back",
                "value": {"error": "Service Unavailable", "detail": {
                    "store": "etcd", "cause": "UNAVAILABLE: etcdserver: no leader", "outcome": "not applied"}}},
            "etcd_no_answer": {
                "summary": "etcd did not answer in time: the write may still be applied",
                "value": {"error": "Service Unavailable", "detail": {
                    "store": "etcd", "cause": "DEADLINE_EXCEEDED: Deadline Exceeded", "outcome": "unknown",
                    "version": 8, "detail": "the reconciler settles it within about 20 s"}}},
        }}},
    },
}


# ------------------------------------------------------------------ dependencies


@dataclass
class CmsDeps:
    settings: CmsSettings
    service: PolicyService
    users: MongoMetadata
    probe: PolicySyncProbe
    reconciler: Reconciler
    metrics: CmsMetrics
    documents: PolicyService
    documents_reconciler: Reconciler


def _deps(request: Request) -> CmsDeps:
    return request.app.state.cms


Deps = Annotated[CmsDeps, Depends(_deps)]
# The patterns are checked by the handlers (400, not FastAPI's 422), and stated here.
PolicyId = Annotated[str, Path(description="policy id: letters, digits, _ . - (max 128)",
                               json_schema_extra={"pattern": POLICY_ID_PATTERN})]


def unavailable(exc: StoreUnavailable) -> HTTPException:
    outcome = {False: "not applied", None: "unknown", True: "committed"}[exc.applied]
    return HTTPException(503, {"store": exc.store, "cause": exc.cause, "outcome": outcome})


def retry_after(seconds: float | None) -> dict[str, str] | None:
    # Retry-After carries whole seconds.
    return None if seconds is None else {"Retry-After": str(max(1, math.ceil(seconds)))}


@contextlib.contextmanager
def errors(noun: str = "policy"):
    """The protocol's exceptions as HTTP answers; `noun` names what a 404 did not find."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, f"no such {noun}: {exc}") from exc
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except RegoInvalid as exc:
        raise HTTPException(400, {"message": exc.message, "errors": exc.errors}) from exc
    except WriteFailed as exc:
        raise HTTPException(503, exc.body, headers=retry_after(exc.retry_after_s)) from exc
    except StoreUnavailable as exc:
        raise unavailable(exc) from exc


def outcome_of(exc: Exception) -> str:
    if isinstance(exc, WriteFailed):
        return exc.body["outcome"]
    for kind, outcome in ((NotFound, "not_found"), (Conflict, "conflict"), (RegoInvalid, "invalid")):
        if isinstance(exc, kind):
            return outcome
    return "unavailable"


@contextlib.contextmanager
def counted(deps: CmsDeps, op: str, kind: str = "policy"):
    """A failed write counted by how it ended; `answer` counts the ones that succeed."""
    try:
        yield
    except Exception as exc:
        deps.metrics.write(op, outcome_of(exc), step_timings.get() or {}, kind)
        raise


def check_id(policy_id: str, noun: str = "policy") -> None:
    if not re.fullmatch(POLICY_ID_PATTERN, policy_id):
        raise HTTPException(400, f"invalid {noun} id {policy_id[:200]!r}: use letters, digits, _ . - (max 128)")


async def answer(deps: CmsDeps, result: WriteResult, wait: str | None, started: float, *,
                 status_id: str | None = None, kind: str = "policy") -> JSONResponse:
    """The write's answer, after `?wait=enforced` on policy_sync's status for `status_id`
    (default: the id; a document's is `data/<id>`)."""
    out = UpdateOut(result="update successful" if result.op == "put" else "deletion successful", id=result.id,
                    version=result.version, etcd_revision=result.etcd_revision,
                    status="active" if result.op == "put" else "deleted", created=result.created,
                    unchanged=result.unchanged)
    status = 201 if result.created else 200
    if wait == "enforced" and result.etcd_revision is not None:
        t0 = time.perf_counter()
        out.enforced, out.enforce_detail = await wait_enforced(
            deps.probe, status_id or result.id, result.etcd_revision, result.op, deps.settings.enforce_timeout_s)
        record_step("enforce_wait", t0)
        if not out.enforced:
            status = 202
    timings = step_timings.get() or {}
    # Server-Timing: where the update spent its time (opa_compile or validate, mongo_*, etcd_txn, enforce_wait)
    # and `cms`, the CMS's own time with those waits taken out: its service time for the model.
    timings["cms"] = max(0.0, (time.perf_counter() - started) * 1000 - sum(timings.values()))
    deps.metrics.write(result.op, "unchanged" if result.unchanged else "applied", timings, kind)
    headers = {"Server-Timing": ", ".join(f"{k};dur={v:.2f}" for k, v in timings.items())}
    return JSONResponse(out.model_dump(mode="json"), status_code=status, headers=headers)


def record_step(name: str, t0: float) -> None:
    d = step_timings.get()
    if d is not None:
        d[name] = (time.perf_counter() - t0) * 1000


async def wait_enforced(probe: PolicySyncProbe, policy_id: str, revision: int, op: str,
                        timeout_s: float) -> tuple[bool, str | None]:
    """Poll policy_sync's /status until it reports `revision` (or later) loaded for the policy."""
    deadline = time.monotonic() + timeout_s
    last = "no answer from policy_sync"
    while True:
        try:
            st = await probe.status()
            loaded = int(st.get("revision") or 0)
            err = (st.get("errors") or {}).get(policy_id)
            if err and int(err.get("revision") or 0) >= revision:
                return False, f"OPA refused revision {err.get('revision')}: {err.get('message')}"
            have = (st.get("policies") or {}).get(policy_id)
            if loaded >= revision and ((op == "put" and have is not None and have >= revision)
                                       or (op == "delete" and have is None)):
                return True, None
            last = f"policy_sync reports revision {loaded}"
        except Exception as exc:  # noqa: BLE001 - any failure just means "not yet"
            last = f"policy_sync: {type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            return False, f"revision {revision} not reported loaded within {timeout_s} s ({last})"
        await asyncio.sleep(0.02)
