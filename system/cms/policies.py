"""The policy write protocol: MongoDB `pending`, etcd compare-and-swap, MongoDB `active`.

    PUT /cms/policies/authz
      1. OPA compiles the Rego (scratch policy)          invalid -> 400, nothing written
      2. claim version N+1 (insert of `<id>@<N+1>` into policy_claims: a concurrent
         writer's insert fails -> 409); metadata: version N+1, status `pending`
         (already pending: 409 while etcd can commit and its writer may still be at work,
         503 while etcd cannot commit or the claim has outlived any writer; nothing written)
      3. etcd txn: if mod_revision(/policies/authz) == the revision the metadata recorded,
                   put the Rego                           (compare fails -> rollback, 409;
                   etcd refused, e.g. no leader -> rollback, 503 "not applied";
                   no answer -> 503 "unknown", the record stays pending)
      4. metadata: status `active`, etcd_revision = the txn's revision, history += entry

A crash or outage between the steps leaves the metadata `pending`, never `active` without
the content in etcd. The reconciler settles a pending record: forward when etcd holds its
content, back after a grace period when it does not. Deletes follow the same steps with a
delete in etcd and the status `deleted` (versions keep counting, history is kept).

Metadata document (collection `policies`, see /tmp contracts): _id, author, description,
version, status, etcd_revision, history[{version, author, description, etcd_revision, at,
op, sha256}], updated_at; and, for the protocol, rego + sha256 (the active content) and
`pending` ({token, op, version, author, description, rego, sha256, base_revision, started_at}).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from system.cms.stores import EtcdEntry, RegoInvalid, StoreUnavailable  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

POLICY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_POLICY_ID = re.compile(POLICY_ID_PATTERN)
RECONCILER_AUTHOR = "reconciler"


def valid_policy_id(policy_id: str) -> bool:
    """Ids are plain names, usable as an etcd key suffix and an OPA policy id.

    >>> valid_policy_id("authz"), valid_policy_id("../x"), valid_policy_id("")
    (True, False, False)
    """
    return bool(_POLICY_ID.fullmatch(policy_id))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


# Per-request step durations in ms (the API sets a dict, answers it as Server-Timing).
step_timings: ContextVar[dict | None] = ContextVar("cms_step_timings", default=None)


class _step:
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc) -> None:
        d = step_timings.get()
        if d is not None:
            d[self.name] = d.get(self.name, 0.0) + (time.perf_counter() - self.t0) * 1000


class Conflict(Exception):
    """A concurrent writer got there first (HTTP 409)."""


class NotFound(Exception):
    """No such policy (HTTP 404)."""


class WriteFailed(Exception):
    """A store failed during the protocol (HTTP 503). `outcome` is what the caller should
    believe: "not applied", "unknown" (the reconciler settles it) or "committed" (in etcd,
    the reconciler activates the metadata). `retry_after_s`, when set, is when a retry may
    succeed (the API's Retry-After)."""

    def __init__(self, store: str, cause: str, outcome: str, retry_after_s: float | None = None, **extra) -> None:
        super().__init__(f"{store}: {cause} ({outcome})")
        self.body = {"store": store, "cause": cause, "outcome": outcome, **extra}
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class WriteResult:
    id: str
    op: str  # "put" | "delete"
    version: int
    etcd_revision: int | None
    created: bool = False
    unchanged: bool = False


class Metadata(Protocol):
    async def get_policy(self, policy_id: str) -> dict | None: ...
    async def list_policies(self) -> list[dict]: ...
    async def insert_policy(self, doc: dict) -> bool: ...
    async def update_policy_if(self, policy_id: str, cond: dict, update: dict) -> bool: ...
    async def delete_policy_if(self, policy_id: str, cond: dict) -> bool: ...
    async def claim_version(self, policy_id: str, version: int, token: str, at: datetime) -> bool: ...
    async def release_claim(self, policy_id: str, version: int, token: str) -> None: ...


class Content(Protocol):
    async def get(self, policy_id: str) -> EtcdEntry | None: ...
    async def list(self) -> tuple[int, dict[str, EtcdEntry]]: ...
    async def put_if(self, policy_id: str, value: str, expected_mod_revision: int) -> int | None: ...
    async def delete_if(self, policy_id: str, expected_mod_revision: int) -> int | None: ...
    async def check_quorum(self, timeout: float) -> None: ...


class Compiler(Protocol):
    async def validate(self, policy_id: str, rego: str) -> None: ...


class PolicyService:
    """Reads and writes policies across MongoDB (metadata) and etcd (content).

        svc = PolicyService(MongoMetadata(url), EtcdPolicies("etcd:2379"), OpaCompiler(opa))
        result = await svc.put("authz", rego, "default set", author="alice")
    """

    def __init__(self, meta: Metadata, etcd: Content, compiler: Compiler,
                 now: Callable[[], datetime] = utcnow, settle_bound_s: float = 20.0,
                 probe_timeout_s: float = 1.0, retry_after_s: float = 5.0, writer_deadline_s: float = 14.0,
                 noun: str = "policy", validate_step: str = "opa_compile") -> None:
        self.meta = meta
        self.etcd = etcd
        self.compiler = compiler
        self.now = now
        self.settle_bound_s = settle_bound_s
        self.probe_timeout_s = probe_timeout_s
        self.retry_after_s = retry_after_s
        # The longest a writer works between its claim and its answer (its store timeouts):
        # a claim older than this has no writer left, only an outcome to settle.
        self.writer_deadline_s = writer_deadline_s
        # The same protocol serves the policy documents: what its messages call a record, and
        # the Server-Timing name of the check that stands in for OPA's compile.
        self.noun = noun
        self.validate_step = validate_step

    # ----------------------------------------------------------------- reads

    async def get(self, policy_id: str, include_deleted: bool = False) -> dict:
        doc = await self.meta.get_policy(policy_id)
        if doc is None or (doc["status"] == "deleted" and not include_deleted):
            raise NotFound(policy_id)
        if doc["status"] == "pending" and not doc.get("history"):
            raise NotFound(policy_id)  # a create still in flight is not a policy yet
        return doc

    async def list(self, include_deleted: bool = False) -> list[dict]:
        docs = await self.meta.list_policies()
        return [d for d in docs if include_deleted or d["status"] != "deleted"]

    # ----------------------------------------------------------------- writes

    async def put(self, policy_id: str, rego: str, description: str, author: str,
                  expected_version: int | None = None) -> WriteResult:
        with _step(self.validate_step):
            await self.compiler.validate(policy_id, rego)
        with _step("mongo_read"):
            doc = await self.meta.get_policy(policy_id)
        await self._refuse_if_pending(policy_id, doc)
        current = self._check_writable(policy_id, doc, expected_version)
        digest = sha256(rego)
        if doc and doc["status"] == "active" and doc.get("sha256") == digest and doc.get("description") == description:
            return WriteResult(policy_id, "put", current, doc.get("etcd_revision"), unchanged=True)
        base = doc["etcd_revision"] if doc and doc["status"] == "active" else 0
        return await self._write(policy_id, doc, "put", rego, author, description, base)

    async def delete(self, policy_id: str, author: str, expected_version: int | None = None) -> WriteResult:
        doc = await self.meta.get_policy(policy_id)
        if doc is None or doc["status"] == "deleted" or (doc["status"] == "pending" and not doc.get("history")):
            raise NotFound(policy_id)
        await self._refuse_if_pending(policy_id, doc)
        self._check_writable(policy_id, doc, expected_version)
        return await self._write(policy_id, doc, "delete", None, author, doc.get("description", ""),
                                 doc["etcd_revision"])

    async def _refuse_if_pending(self, policy_id: str, doc: dict | None) -> None:
        """A pending record blocks writers until its update finishes or the reconciler settles
        it. Say which wait it is: on a concurrent writer (409) or on etcd (503).

        Only etcd can tell. The claim's age cannot: the record of an update that is blocked
        behind a lost quorum is as young as a concurrent one in its first seconds, and it
        stays pending for the whole outage. So ask etcd, boundedly (`probe_timeout_s`), and
        only here: writes that find no pending record pay nothing. A probe that fails while
        etcd is merely slow also answers 503, which is still true of this request: it wrote
        nothing."""
        if not doc or doc["status"] != "pending":
            return
        p = doc.get("pending") or {}
        try:
            await self.etcd.check_quorum(self.probe_timeout_s)
        except StoreUnavailable as exc:
            raise WriteFailed(
                "etcd", f"etcd unavailable (lost quorum or unreachable): {exc.cause}", "not applied",
                retry_after_s=self.retry_after_s, policy=policy_id, pending_version=p.get("version"),
                detail=f"version {p.get('version')} of {policy_id!r} is pending since {p.get('started_at')} and "
                       f"etcd cannot commit; nothing of this request was written. The reconciler settles version "
                       f"{p.get('version')} within about {self.settle_bound_s:.0f} s once etcd is back; retry then",
            ) from exc
        started = p.get("started_at")
        if started is not None and (self.now() - started).total_seconds() > self.writer_deadline_s:
            # No writer is behind it any more: the update it started ended `unknown` (etcd did
            # not answer it) or its process died. That is an outage's leftover, not a conflict.
            raise WriteFailed(
                "etcd", f"version {p.get('version')} of {policy_id!r} is still unsettled after an earlier failure",
                "not applied", retry_after_s=self.retry_after_s, policy=policy_id, pending_version=p.get("version"),
                detail=f"pending since {started}, longer than any writer waits ({self.writer_deadline_s:.0f} s); the "
                       f"reconciler settles it within about {self.settle_bound_s:.0f} s; nothing of this request was "
                       f"written; retry then")
        raise Conflict(f"{self.noun} {policy_id!r}: version {p.get('version')} is still pending "
                       f"(since {started}); retry, or wait for the reconciler")

    def _check_writable(self, policy_id: str, doc: dict | None, expected_version: int | None) -> int:
        current = doc["version"] if doc else 0
        if expected_version is not None and expected_version != current:
            raise Conflict(f"{self.noun} {policy_id!r} is at version {current}, not {expected_version}")
        return current

    async def _write(self, policy_id: str, doc: dict | None, op: str, rego: str | None, author: str,
                     description: str, base_revision: int) -> WriteResult:
        with _step("mongo_pending"):
            pending = await self._begin(policy_id, doc, op, rego, author, description, base_revision)
        try:
            with _step("etcd_txn"):
                if op == "put":
                    revision = await self.etcd.put_if(policy_id, rego, base_revision)
                else:
                    revision = await self.etcd.delete_if(policy_id, base_revision)
        except StoreUnavailable as exc:
            if exc.applied is False:
                await self._rollback_quietly(policy_id, pending["token"])
                raise WriteFailed("etcd", exc.cause, "not applied", retry_after_s=self.retry_after_s) from exc
            raise WriteFailed("etcd", exc.cause, "unknown", version=pending["version"],
                              detail=f"the reconciler settles it within about {self.settle_bound_s:.0f} s") from exc
        if revision is None:
            await self._rollback_quietly(policy_id, pending["token"])
            raise Conflict(f"{self.noun} {policy_id!r}: etcd changed since revision {base_revision} "
                           f"(a concurrent or out-of-band write); nothing was written")
        try:
            with _step("mongo_active"):
                finished = await self.finish(policy_id, pending, revision)
        except StoreUnavailable as exc:
            raise WriteFailed("mongo", exc.cause, "committed", version=pending["version"], etcd_revision=revision,
                              detail="the content is in etcd; the reconciler activates the metadata") from exc
        if not finished:
            # The reconciler got there first; it only rolls forward a record whose content
            # etcd holds, so check that it did.
            now = await self.meta.get_policy(policy_id)
            if not (now and now["version"] == pending["version"] and now["status"] != "pending"):
                raise WriteFailed("mongo", "pending record settled concurrently", "unknown")
        return WriteResult(policy_id, op, pending["version"], revision, created=doc is None or doc["status"] == "deleted")

    async def _begin(self, policy_id, doc, op, rego, author, description, base_revision) -> dict:
        now = self.now()
        version = (doc["version"] if doc else 0) + 1
        pending = {"token": uuid.uuid4().hex, "op": op, "version": version, "author": author,
                   "description": description, "rego": rego, "sha256": sha256(rego) if rego is not None else None,
                   "base_revision": base_revision, "started_at": now}
        fields = {"version": version, "status": "pending", "author": author, "description": description,
                  "pending": pending, "updated_at": now}
        if not await self.meta.claim_version(policy_id, version, pending["token"], now):
            raise Conflict(f"{self.noun} {policy_id!r}: version {version} is taken by a concurrent update")
        if doc is None:
            ok = await self.meta.insert_policy(
                {"_id": policy_id, **fields, "etcd_revision": None, "rego": None, "sha256": None, "history": []})
        else:
            ok = await self.meta.update_policy_if(
                policy_id, {"version": doc["version"], "status": doc["status"]}, {"$set": fields})
        if not ok:
            await self.meta.release_claim(policy_id, version, pending["token"])
            raise Conflict(f"{self.noun} {policy_id!r} changed concurrently (version {version - 1} is no longer current)")
        return pending

    async def finish(self, policy_id: str, pending: dict, revision: int) -> bool:
        """Step 4: the pending record becomes the active (or deleted) version."""
        now = self.now()
        entry = {"version": pending["version"], "author": pending["author"], "description": pending["description"],
                 "etcd_revision": revision, "at": now, "op": pending["op"], "sha256": pending["sha256"]}
        fields = {"status": "active" if pending["op"] == "put" else "deleted", "etcd_revision": revision,
                  "rego": pending["rego"], "sha256": pending["sha256"], "pending": None, "updated_at": now}
        return await self.meta.update_policy_if(
            policy_id, {"pending.token": pending["token"]}, {"$set": fields, "$push": {"history": entry}})

    async def rollback(self, policy_id: str, token: str) -> bool:
        """Undo a pending record: back to the last committed version (or no document)."""
        doc = await self.meta.get_policy(policy_id)
        if not doc or (doc.get("pending") or {}).get("token") != token:
            return False
        # Give the version back first: if we stop right after, the record is still pending
        # (writers get 409) and the next pass rolls it back again.
        await self.meta.release_claim(policy_id, doc["pending"]["version"], token)
        history = doc.get("history") or []
        if not history:
            return await self.meta.delete_policy_if(policy_id, {"pending.token": token})
        last = history[-1]
        fields = {"version": last["version"], "author": last["author"], "description": last["description"],
                  "etcd_revision": last["etcd_revision"], "status": "active" if last.get("op", "put") == "put" else "deleted",
                  "pending": None, "updated_at": self.now()}
        return await self.meta.update_policy_if(policy_id, {"pending.token": token}, {"$set": fields})

    async def _rollback_quietly(self, policy_id: str, token: str) -> None:
        try:
            await self.rollback(policy_id, token)
        except StoreUnavailable as exc:
            log.warning("rollback of %s left to the reconciler: %s", policy_id, exc)
