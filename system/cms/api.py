"""The CMS's HTTP API: policies, user profiles, the reconciler. `build_app` wires it up.

Every route under /cms needs the caller's identity in X-Consumer-Username, which the gateway
sets from the authenticated consumer and signs (X-Consumer-Assertion, system/common/identity.py):
401 without both, so a caller on the DC network cannot name itself an admin. Who may call
what is OPA's decision at the gateway; the CMS records the identity as the author.

    app = build_app(CmsSettings(etcd_endpoint="127.0.0.1:2379", mongo_url=..., opa_url=...))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field

from system.cms.metrics import CmsMetrics
from system.cms.policies import POLICY_ID_PATTERN, Conflict, NotFound, PolicyService, WriteFailed, WriteResult, step_timings
from system.cms.reconciler import Reconciler
from system.cms.settings import CmsSettings
from system.cms.stores import EtcdPolicies, MongoMetadata, OpaCompiler, PolicySyncProbe, RegoInvalid, StoreUnavailable
from system.common.consumer import Consumer
from system.common.etcd import EtcdTls
from system.common.identity import HEADER as ASSERTION
from system.common.identity import USERNAME
from system.common.service import create_app

log = logging.getLogger(__name__)

USER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$"


# ------------------------------------------------------------------ models


def _utf8(value: str) -> str:
    # JSON may carry lone surrogates (\ud800); etcd, MongoDB and OPA take UTF-8 only.
    value.encode("utf-8")
    return value


Utf8 = Annotated[str, AfterValidator(_utf8)]


class PolicyIn(BaseModel):
    rego: Utf8 = Field(min_length=1, description="Rego source; compiled by OPA before anything is written "
                                                 "(400 with OPA's errors when it does not compile)",
                       json_schema_extra={"format": "rego"})
    description: Utf8 = Field("", max_length=4096)
    expected_version: int | None = Field(None, ge=0, description="409 unless the policy is at this version "
                                                                 "(0: it must not exist)")


class HistoryEntry(BaseModel):
    version: int
    author: str
    description: str
    etcd_revision: int | None
    at: datetime
    op: str = "put"
    sha256: str | None = None


class PolicyOut(BaseModel):
    id: str
    author: str
    description: str
    version: int
    status: Literal["pending", "active", "deleted"]
    etcd_revision: int | None
    rego: str | None = Field(None, description="the active content")
    sha256: str | None = None
    updated_at: datetime | None = None
    pending_version: int | None = None
    history: list[HistoryEntry] = []


class PolicySummary(BaseModel):
    id: str
    author: str
    description: str
    version: int
    status: str
    etcd_revision: int | None
    updated_at: datetime | None = None


class PolicyList(BaseModel):
    policies: list[PolicySummary]


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


class UserIn(BaseModel):
    groups: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(default_factory=list, max_length=256)
    role: Literal["user", "admin"] = "user"


class UserOut(BaseModel):
    name: str
    groups: list[str]
    role: Literal["user", "admin"]


class UserList(BaseModel):
    users: list[UserOut]


class RepairOut(BaseModel):
    id: str
    action: str
    detail: str


class ReconcileOut(BaseModel):
    repairs: list[RepairOut]


ERRORS = {
    400: {"description": "Invalid Rego (OPA's message), invalid id, or malformed JSON; nothing was written"},
    401: {"description": f"No {USERNAME} header, or no valid {ASSERTION} for it (the gateway's)"},
    404: {"description": "No such policy or user"},
    409: {"description": "A concurrent update won, or expected_version did not match; nothing was written"},
    413: {"description": "Body over the size limit"},
    503: {"description": "MongoDB, etcd or OPA unreachable; the body names the store, the cause and the outcome"},
}

# The writes' 409 and 503 in detail (the policy PUT and DELETE).
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


def _deps(request: Request) -> CmsDeps:
    return request.app.state.cms


Deps = Annotated[CmsDeps, Depends(_deps)]
# The patterns are checked by the handlers (400, not FastAPI's 422), and stated here.
PolicyId = Annotated[str, Path(description="policy id: letters, digits, _ . - (max 128)",
                               json_schema_extra={"pattern": POLICY_ID_PATTERN})]
UserName = Annotated[str, Path(description="user name: letters, digits, _ . @ - (max 128)",
                               json_schema_extra={"pattern": USER_NAME_PATTERN})]


def _unavailable(exc: StoreUnavailable) -> HTTPException:
    outcome = {False: "not applied", None: "unknown", True: "committed"}[exc.applied]
    return HTTPException(503, {"store": exc.store, "cause": exc.cause, "outcome": outcome})


def _retry_after(seconds: float | None) -> dict[str, str] | None:
    # Retry-After carries whole seconds.
    return None if seconds is None else {"Retry-After": str(max(1, math.ceil(seconds)))}


@contextlib.contextmanager
def _errors():
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, f"no such policy: {exc}") from exc
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except RegoInvalid as exc:
        raise HTTPException(400, {"message": exc.message, "errors": exc.errors}) from exc
    except WriteFailed as exc:
        raise HTTPException(503, exc.body, headers=_retry_after(exc.retry_after_s)) from exc
    except StoreUnavailable as exc:
        raise _unavailable(exc) from exc


def _outcome(exc: Exception) -> str:
    if isinstance(exc, WriteFailed):
        return exc.body["outcome"]
    for kind, outcome in ((NotFound, "not_found"), (Conflict, "conflict"), (RegoInvalid, "invalid")):
        if isinstance(exc, kind):
            return outcome
    return "unavailable"


@contextlib.contextmanager
def _counted(deps: CmsDeps, op: str):
    """A failed write counted by how it ended; `_answer` counts the ones that succeed."""
    try:
        yield
    except Exception as exc:
        deps.metrics.write(op, _outcome(exc), step_timings.get() or {})
        raise


def _check_id(policy_id: str) -> None:
    import re

    if not re.fullmatch(POLICY_ID_PATTERN, policy_id):
        raise HTTPException(400, f"invalid policy id {policy_id[:200]!r}: use letters, digits, _ . - (max 128)")


# ------------------------------------------------------------------ policies

policies = APIRouter(prefix="/cms/policies", tags=["policies"], responses=ERRORS)


def _policy_out(doc: dict) -> PolicyOut:
    p = doc.get("pending") or {}
    return PolicyOut(id=doc["_id"], author=doc["author"], description=doc.get("description", ""),
                     version=doc["version"], status=doc["status"], etcd_revision=doc.get("etcd_revision"),
                     rego=doc.get("rego"), sha256=doc.get("sha256"), updated_at=doc.get("updated_at"),
                     pending_version=p.get("version"), history=doc.get("history") or [])


@policies.get("", summary="List policies", response_model=PolicyList)
async def list_policies(deps: Deps, _: Consumer, include_deleted: bool = False) -> PolicyList:
    with _errors():
        docs = await deps.service.list(include_deleted)
    return PolicyList(policies=[PolicySummary(id=d["_id"], author=d["author"], description=d.get("description", ""),
                                              version=d["version"], status=d["status"],
                                              etcd_revision=d.get("etcd_revision"), updated_at=d.get("updated_at"))
                                for d in docs])


@policies.get("/{policy_id}", summary="One policy with its version history", response_model=PolicyOut)
async def get_policy(policy_id: PolicyId, deps: Deps, _: Consumer, include_deleted: bool = False) -> PolicyOut:
    _check_id(policy_id)
    with _errors():
        return _policy_out(await deps.service.get(policy_id, include_deleted))


@policies.put("/{policy_id}", summary="Create or update a policy",
              response_model=UpdateOut, status_code=200,
              responses={201: {"model": UpdateOut, "description": "Created"},
                         202: {"model": UpdateOut, "description": "?wait=enforced timed out: written, not yet loaded"},
                         **WRITE_ERRORS})
async def put_policy(policy_id: PolicyId, body: PolicyIn, deps: Deps, author: Consumer,
                     wait: Annotated[Literal["enforced"] | None, Query(description="wait until the local OPA loaded it")] = None,
                     ) -> JSONResponse:
    _check_id(policy_id)
    started = time.perf_counter()
    step_timings.set({})
    with _errors(), _counted(deps, "put"):
        result = await deps.service.put(policy_id, body.rego, body.description, author, body.expected_version)
    return await _answer(deps, result, wait, started)


@policies.delete("/{policy_id}", summary="Delete a policy (its history is kept)", response_model=UpdateOut,
                 responses={202: {"model": UpdateOut, "description": "?wait=enforced timed out"}, **WRITE_ERRORS})
async def delete_policy(policy_id: PolicyId, deps: Deps, author: Consumer,
                        expected_version: Annotated[int | None, Query(ge=0)] = None,
                        wait: Annotated[Literal["enforced"] | None, Query()] = None) -> JSONResponse:
    _check_id(policy_id)
    started = time.perf_counter()
    step_timings.set({})
    with _errors(), _counted(deps, "delete"):
        result = await deps.service.delete(policy_id, author, expected_version)
    return await _answer(deps, result, wait, started)


async def _answer(deps: CmsDeps, result: WriteResult, wait: str | None, started: float) -> JSONResponse:
    out = UpdateOut(result="update successful" if result.op == "put" else "deletion successful", id=result.id,
                    version=result.version, etcd_revision=result.etcd_revision,
                    status="active" if result.op == "put" else "deleted", created=result.created,
                    unchanged=result.unchanged)
    status = 201 if result.created else 200
    if wait == "enforced" and result.etcd_revision is not None:
        t0 = time.perf_counter()
        out.enforced, out.enforce_detail = await wait_enforced(
            deps.probe, result.id, result.etcd_revision, result.op, deps.settings.enforce_timeout_s)
        _record("enforce_wait", t0)
        if not out.enforced:
            status = 202
    timings = step_timings.get() or {}
    # Server-Timing: where the update spent its time (opa_compile, mongo_*, etcd_txn, enforce_wait)
    # and `cms`, the CMS's own time with those waits taken out: its service time for the model.
    timings["cms"] = max(0.0, (time.perf_counter() - started) * 1000 - sum(timings.values()))
    deps.metrics.write(result.op, "unchanged" if result.unchanged else "applied", timings)
    headers = {"Server-Timing": ", ".join(f"{k};dur={v:.2f}" for k, v in timings.items())}
    return JSONResponse(out.model_dump(mode="json"), status_code=status, headers=headers)


def _record(name: str, t0: float) -> None:
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


# ------------------------------------------------------------------ users

users = APIRouter(prefix="/cms/users", tags=["users"], responses=ERRORS)


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(USER_NAME_PATTERN, name):
        raise HTTPException(400, f"invalid user name {name[:200]!r}")


def _user_out(doc: dict) -> UserOut:
    return UserOut(name=doc["_id"], groups=doc.get("groups") or [], role=doc.get("role", "user"))


@users.get("", summary="List user profiles", response_model=UserList)
async def list_users(deps: Deps, _: Consumer) -> UserList:
    with _errors():
        return UserList(users=[_user_out(d) for d in await deps.users.list_users()])


@users.get("/{name}", summary="One user profile", response_model=UserOut)
async def get_user(name: UserName, deps: Deps, _: Consumer) -> UserOut:
    _check_name(name)
    with _errors():
        doc = await deps.users.get_user(name)
    if doc is None:
        raise HTTPException(404, f"no such user: {name}")
    return _user_out(doc)


@users.put("/{name}", summary="Create or replace a user profile (read by the RAG service)", response_model=UserOut,
           responses={201: {"model": UserOut, "description": "Created"}})
async def put_user(name: UserName, body: UserIn, deps: Deps, _: Consumer) -> JSONResponse:
    _check_name(name)
    doc = {"_id": name, "name": name, "groups": list(body.groups), "role": body.role}
    with _errors():
        created = await deps.users.put_user(doc)
    return JSONResponse(_user_out(doc).model_dump(), status_code=201 if created else 200)


@users.delete("/{name}", summary="Delete a user profile", status_code=204)
async def delete_user(name: UserName, deps: Deps, _: Consumer) -> None:
    _check_name(name)
    with _errors():
        if not await deps.users.delete_user(name):
            raise HTTPException(404, f"no such user: {name}")


# ------------------------------------------------------------------ reconciler

admin = APIRouter(prefix="/cms", tags=["reconciler"], responses=ERRORS)


@admin.post("/reconcile", summary="Run one reconciler pass now and list what it repaired", response_model=ReconcileOut)
async def reconcile(deps: Deps, _: Consumer) -> ReconcileOut:
    with _errors():
        repairs = await deps.reconciler.run_once()
    return ReconcileOut(repairs=[RepairOut(**r.as_dict()) for r in repairs])


# ------------------------------------------------------------------ app


def build_app(settings: CmsSettings | None = None, *, meta: Any = None, etcd: Any = None, compiler: Any = None,
              probe: Any = None) -> FastAPI:
    """The CMS app. Adapters default to the real stores named in `settings`; tests pass fakes."""
    settings = settings or CmsSettings()
    meta = meta or MongoMetadata(settings.mongo_url, settings.mongo_db, settings.mongo_timeout_ms)
    etcd = etcd or EtcdPolicies(settings.etcd_endpoints, settings.policy_prefix, settings.etcd_timeout_s,
                                 EtcdTls.in_dir(settings.etcd_tls_dir))
    compiler = compiler or OpaCompiler(settings.opa_url, settings.opa_timeout_s)
    probe = probe or PolicySyncProbe(settings.policy_sync_url)
    service = PolicyService(meta, etcd, compiler,
                            settle_bound_s=settings.reconcile_interval_s + settings.pending_grace_s,
                            probe_timeout_s=min(settings.etcd_probe_timeout_s, settings.etcd_timeout_s),
                            retry_after_s=settings.reconcile_interval_s,
                            writer_deadline_s=settings.etcd_timeout_s + 3 * settings.mongo_timeout_ms / 1000)
    reconciler = Reconciler(service, settings.pending_grace_s, settings.reconcile_interval_s)

    app = create_app("cms", max_body_bytes=settings.max_body_bytes,
                     readiness={"mongo": meta.ping, "etcd": etcd.ping, "opa": compiler.ping},
                     description="Policies (Rego, versioned, published to etcd for OPA) and user profiles.")
    app.state.identity_key = settings.identity_key.get_secret_value().encode()
    app.state.cms = CmsDeps(settings, service, meta, probe, reconciler,
                            CmsMetrics(app.state.metrics.registry, reconciler))
    app.include_router(policies)
    app.include_router(users)
    app.include_router(admin)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        task = asyncio.create_task(reconciler.run_forever()) if settings.reconciler_enabled else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for closer in (getattr(meta, "close", None), getattr(compiler, "close", None),
                           getattr(probe, "close", None)):
                if closer:
                    with contextlib.suppress(Exception):
                        res = closer()
                        if asyncio.iscoroutine(res):
                            await res
            if hasattr(etcd, "close"):
                etcd.close()

    app.router.lifespan_context = lifespan
    return app
