"""The CMS's HTTP API: policies, user profiles, the reconciler. `build_app` wires it up
(the policy documents' routes are in documents_api.py, what they share in web.py).

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
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from system.cms.documents import DOCUMENT_NOUN, JsonObjectValidator, status_id
from system.cms.documents_api import documents as documents_router
from system.cms.metrics import CmsMetrics
from system.cms.policies import PolicyService, step_timings
from system.cms.reconciler import Reconciler
from system.cms.settings import CmsSettings
from system.cms.stores import EtcdPolicies, MongoMetadata, OpaCompiler, PolicySyncProbe
from system.cms.web import (
    ERRORS,
    WRITE_ERRORS,
    CmsDeps,
    Deps,
    PolicyId,
    RecordOut,
    RecordSummary,
    RepairOut,
    UpdateOut,
    Utf8,
    answer,
    check_id,
    counted,
    errors,
)
from system.common.consumer import Consumer
from system.common.etcd import EtcdTls
from system.common.service import create_app

log = logging.getLogger(__name__)

USER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$"
# The pattern is checked by the handlers (400, not FastAPI's 422), and stated here.
UserName = Annotated[str, Path(description="user name: letters, digits, _ . @ - (max 128)",
                               json_schema_extra={"pattern": USER_NAME_PATTERN})]


# ------------------------------------------------------------------ models


class PolicyIn(BaseModel):
    rego: Utf8 = Field(min_length=1, description="Rego source; compiled by OPA before anything is written "
                                                 "(400 with OPA's errors when it does not compile)",
                       json_schema_extra={"format": "rego"})
    description: Utf8 = Field("", max_length=4096)
    expected_version: int | None = Field(None, ge=0, description="409 unless the policy is at this version "
                                                                 "(0: it must not exist)")



class PolicyOut(RecordOut):
    rego: str | None = Field(None, description="the active content")


class PolicySummary(RecordSummary):
    """A policy's line in the listing."""


class PolicyList(BaseModel):
    policies: list[PolicySummary]


class UserIn(BaseModel):
    groups: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(default_factory=list, max_length=256)
    role: Literal["user", "admin"] = "user"


class UserOut(BaseModel):
    name: str
    groups: list[str]
    role: Literal["user", "admin"]


class UserList(BaseModel):
    users: list[UserOut]


class ReconcileOut(BaseModel):
    repairs: list[RepairOut] = Field(description="the policies' repairs, then the policy documents' (their ids "
                                                 "as policy_sync reports them: `data/<id>`)")




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
    with errors():
        docs = await deps.service.list(include_deleted)
    return PolicyList(policies=[PolicySummary(id=d["_id"], author=d["author"], description=d.get("description", ""),
                                              version=d["version"], status=d["status"],
                                              etcd_revision=d.get("etcd_revision"), updated_at=d.get("updated_at"))
                                for d in docs])


@policies.get("/{policy_id}", summary="One policy with its version history", response_model=PolicyOut)
async def get_policy(policy_id: PolicyId, deps: Deps, _: Consumer, include_deleted: bool = False) -> PolicyOut:
    check_id(policy_id)
    with errors():
        return _policy_out(await deps.service.get(policy_id, include_deleted))


@policies.put("/{policy_id}", summary="Create or update a policy",
              response_model=UpdateOut, status_code=200,
              responses={201: {"model": UpdateOut, "description": "Created"},
                         202: {"model": UpdateOut, "description": "?wait=enforced timed out: written, not yet loaded"},
                         **WRITE_ERRORS})
async def put_policy(policy_id: PolicyId, body: PolicyIn, deps: Deps, author: Consumer,
                     wait: Annotated[Literal["enforced"] | None, Query(description="wait until the local OPA loaded it")] = None,
                     ) -> JSONResponse:
    check_id(policy_id)
    started = time.perf_counter()
    step_timings.set({})
    with errors(), counted(deps, "put"):
        result = await deps.service.put(policy_id, body.rego, body.description, author, body.expected_version)
    return await answer(deps, result, wait, started)


@policies.delete("/{policy_id}", summary="Delete a policy (its history is kept)", response_model=UpdateOut,
                 responses={202: {"model": UpdateOut, "description": "?wait=enforced timed out"}, **WRITE_ERRORS})
async def delete_policy(policy_id: PolicyId, deps: Deps, author: Consumer,
                        expected_version: Annotated[int | None, Query(ge=0)] = None,
                        wait: Annotated[Literal["enforced"] | None, Query()] = None) -> JSONResponse:
    check_id(policy_id)
    started = time.perf_counter()
    step_timings.set({})
    with errors(), counted(deps, "delete"):
        result = await deps.service.delete(policy_id, author, expected_version)
    return await answer(deps, result, wait, started)


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
    with errors():
        return UserList(users=[_user_out(d) for d in await deps.users.list_users()])


@users.get("/{name}", summary="One user profile", response_model=UserOut)
async def get_user(name: UserName, deps: Deps, _: Consumer) -> UserOut:
    _check_name(name)
    with errors():
        doc = await deps.users.get_user(name)
    if doc is None:
        raise HTTPException(404, f"no such user: {name}")
    return _user_out(doc)


@users.put("/{name}", summary="Create or replace a user profile (read by the RAG service)", response_model=UserOut,
           responses={201: {"model": UserOut, "description": "Created"}})
async def put_user(name: UserName, body: UserIn, deps: Deps, _: Consumer) -> JSONResponse:
    _check_name(name)
    doc = {"_id": name, "name": name, "groups": list(body.groups), "role": body.role}
    with errors():
        created = await deps.users.put_user(doc)
    return JSONResponse(_user_out(doc).model_dump(), status_code=201 if created else 200)


@users.delete("/{name}", summary="Delete a user profile", status_code=204)
async def delete_user(name: UserName, deps: Deps, _: Consumer) -> None:
    _check_name(name)
    with errors():
        if not await deps.users.delete_user(name):
            raise HTTPException(404, f"no such user: {name}")


# ------------------------------------------------------------------ reconciler

admin = APIRouter(prefix="/cms", tags=["reconciler"], responses=ERRORS)


@admin.post("/reconcile", summary="Run one reconciler pass now (policies, then policy documents) and list what it "
                               "repaired", response_model=ReconcileOut)
async def reconcile(deps: Deps, _: Consumer) -> ReconcileOut:
    with errors():
        repairs = [RepairOut(**r.as_dict()) for r in await deps.reconciler.run_once()]
        # One list, as before the documents: a document's id is told apart by its etcd key suffix.
        repairs += [RepairOut(**{**r.as_dict(), "id": status_id(r.id)})
                    for r in await deps.documents_reconciler.run_once()]
    return ReconcileOut(repairs=repairs)


# ------------------------------------------------------------------ app


def build_app(settings: CmsSettings | None = None, *, meta: Any = None, etcd: Any = None, compiler: Any = None,
              probe: Any = None, documents_meta: Any = None, documents_etcd: Any = None) -> FastAPI:
    """The CMS app. Adapters default to the real stores named in `settings`; tests pass fakes.
    The policy documents' stores default to `meta.documents()` and `etcd.documents()`: the
    sibling collections and the `data/` prefix, over the same connections."""
    settings = settings or CmsSettings()
    meta = meta or MongoMetadata(settings.mongo_url, settings.mongo_db, settings.mongo_timeout_ms)
    etcd = etcd or EtcdPolicies(settings.etcd_endpoints, settings.policy_prefix, settings.etcd_timeout_s,
                                 EtcdTls.in_dir(settings.etcd_tls_dir))
    documents_meta = documents_meta or meta.documents()
    documents_etcd = documents_etcd or etcd.documents()
    compiler = compiler or OpaCompiler(settings.opa_url, settings.opa_timeout_s)
    probe = probe or PolicySyncProbe(settings.policy_sync_url)
    protocol = dict(settle_bound_s=settings.reconcile_interval_s + settings.pending_grace_s,
                    probe_timeout_s=min(settings.etcd_probe_timeout_s, settings.etcd_timeout_s),
                    retry_after_s=settings.reconcile_interval_s,
                    writer_deadline_s=settings.etcd_timeout_s + 3 * settings.mongo_timeout_ms / 1000)
    service = PolicyService(meta, etcd, compiler, **protocol)
    documents = PolicyService(documents_meta, documents_etcd, JsonObjectValidator(), noun=DOCUMENT_NOUN,
                              validate_step="validate", **protocol)
    reconciler = Reconciler(service, settings.pending_grace_s, settings.reconcile_interval_s)
    documents_reconciler = Reconciler(documents, settings.pending_grace_s, settings.reconcile_interval_s)

    app = create_app("cms", max_body_bytes=settings.max_body_bytes,
                     readiness={"mongo": meta.ping, "etcd": etcd.ping, "opa": compiler.ping},
                     description="Policies (Rego, versioned, published to etcd for OPA), their JSON documents "
                                 "(data.policy_data.<id> in OPA) and user profiles.")
    app.state.identity_key = settings.identity_key.get_secret_value().encode()
    app.state.cms = CmsDeps(settings, service, meta, probe, reconciler,
                            CmsMetrics(app.state.metrics.registry, reconciler, documents_reconciler),
                            documents, documents_reconciler)
    app.include_router(policies)
    app.include_router(documents_router)
    app.include_router(users)
    app.include_router(admin)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        tasks = [asyncio.create_task(r.run_forever()) for r in (reconciler, documents_reconciler)
                 if settings.reconciler_enabled]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            # The documents' stores first: views over the policies' connections, closed by those.
            for closer in (getattr(documents_meta, "close", None), getattr(meta, "close", None),
                           getattr(compiler, "close", None), getattr(probe, "close", None)):
                if closer:
                    with contextlib.suppress(Exception):
                        res = closer()
                        if asyncio.iscoroutine(res):
                            await res
            for store in (documents_etcd, etcd):
                if hasattr(store, "close"):
                    store.close()

    app.router.lifespan_context = lifespan
    return app
