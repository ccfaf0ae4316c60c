"""Adapters for the CMS's external systems: MongoDB, etcd, OPA and the local policy_sync.

The CMS's logic talks only to these small classes, so tests can swap in fakes. Every
adapter turns its client's connection errors into `StoreUnavailable`, naming the store and
the cause, which the API answers as 503.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pymongo
import pymongo.errors
from pymongo import AsyncMongoClient

from system.common.etcd import EtcdTls, etcd3
from system.common.etcd_members import Members, Unreachable
from system.common.tls import client_context
from system.policy_sync.opa import DATA_PREFIX

log = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """A store did not answer. `applied` says what is known of a write's effect:
    False (certainly not applied) or None (unknown: it may still be applied)."""

    def __init__(self, store: str, cause: str, applied: bool | None = False) -> None:
        super().__init__(f"{store} unavailable: {cause}")
        self.store = store
        self.cause = cause
        self.applied = applied


class RegoInvalid(Exception):
    """OPA refused to compile a policy; `message` is OPA's, with the policy's own id."""

    def __init__(self, message: str, errors: list[dict]) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


# etcd's "require leader" request metadata (clientv3.WithRequireLeader). A member that knows
# it has no leader (lost quorum) then refuses the request at once, before it reaches raft,
# with UNAVAILABLE "etcdserver: no leader": certainly not applied. Without it that member
# holds a write until the deadline, and the outcome of a write that timed out is unknown.
_REQUIRE_LEADER = (("hasleader", "true"),)
_NO_LEADER = "etcdserver: no leader"


def _require_leader(c) -> tuple:
    return tuple(c.metadata or ()) + _REQUIRE_LEADER


def _code(exc: grpc.RpcError):
    return exc.code() if hasattr(exc, "code") else None


def _read_fails_over(exc: grpc.RpcError) -> bool:
    """A read is repeatable: like clientv3, retry any UNAVAILABLE on the next member (refused,
    "no leader" from a member that lost or has not yet found its leader, etcd's own "request
    timed out"). DEADLINE_EXCEEDED is not retried: the caller's deadline is spent."""
    return _code(exc) == grpc.StatusCode.UNAVAILABLE


def _write_fails_over(exc: grpc.RpcError) -> bool:
    """A write moves on only when this member provably never proposed it: the require-leader
    refusal, answered before raft. Any other UNAVAILABLE ("leader changed", "request timed
    out", a connection that broke mid-request) may still apply, and a retry elsewhere would
    then fail its mod_revision compare and look like a conflict. clientv3 retries a mutation
    only when no connection was available, which Members covers (Unreachable) before sending;
    it does not retry "no leader", but without require-leader it could not know it was refused."""
    return _code(exc) == grpc.StatusCode.UNAVAILABLE and _NO_LEADER in (exc.details() or "")


def _cause(exc: BaseException, text: str) -> str:
    """The last member's error first, as with one member; the members failed over before it after."""
    return " ".join([text, *(f"({note})" for note in getattr(exc, "__notes__", ()))])


@dataclass(frozen=True)
class EtcdEntry:
    value: str
    mod_revision: int


# --------------------------------------------------------------------------- etcd


class EtcdPolicies:
    """The policies in etcd, one key per policy under `prefix`, with compare-and-swap writes.

    etcd3 is synchronous (gRPC); calls run in a thread. `endpoints` lists every member, the
    local one first; each call fails over between them within `timeout` (system/common/etcd_members.py).
    Only keys directly under `prefix` are this store's: ids never contain "/", and the policy
    documents live one level down (`documents()`, `<prefix>data/<id>`).

        etcd = EtcdPolicies("etcd2:2379,etcd1:2379")
        rev = await etcd.put_if("authz", "package halab.authz", expected_mod_revision=0)
        docs = etcd.documents()   # /policies/data/, over the same connections
    """

    def __init__(self, endpoints: str | Sequence[str], prefix: str = "/policies/", timeout: float = 5.0,
                 tls: EtcdTls | None = None, *, members: Members | None = None) -> None:
        self.prefix = prefix
        self.timeout = timeout
        self._owns_members = members is None
        self.members = members or Members(endpoints, timeout, tls)

    def documents(self) -> EtcdPolicies:
        """The policy documents (JSON, `data.policy_data.<id>` in OPA), sharing this store's members."""
        return EtcdPolicies((), self.prefix + DATA_PREFIX, self.timeout, members=self.members)

    @property
    def endpoint(self) -> str:
        return self.members.current

    def key(self, policy_id: str) -> str:
        return self.prefix + policy_id

    async def _call(self, fn, *, write: bool = False, timeout: float | None = None):
        fail_over = _write_fails_over if write else _read_fails_over
        try:
            return await asyncio.to_thread(self.members.call, fn, self.timeout if timeout is None else timeout,
                                           fail_over=fail_over)
        except Unreachable as exc:
            raise StoreUnavailable("etcd", _cause(exc, f"UNAVAILABLE: {exc}"), False) from exc
        except grpc.RpcError as exc:
            code = _code(exc)
            # A write is certainly not applied only when etcd refused it before raft (require
            # leader's "no leader"); a connection that never formed raised Unreachable above.
            # Anything else ("leader changed", "request timed out", a deadline, a connection
            # broken mid-request) may still apply: its outcome is unknown.
            applied = False if (not write or _write_fails_over(exc)) else None
            details = exc.details() if hasattr(exc, "details") else exc
            raise StoreUnavailable("etcd", _cause(exc, f"{getattr(code, 'name', code)}: {details}"), applied) from exc
        except (etcd3.exceptions.Etcd3Exception, OSError, ValueError) as exc:
            raise StoreUnavailable("etcd", f"{type(exc).__name__}: {exc}", False if not write else None) from exc

    async def ping(self) -> None:
        await self._call(lambda c, t: c.maintenancestub.Status(etcd3.etcdrpc.StatusRequest(), t,
                                                               credentials=c.call_credentials, metadata=c.metadata))

    async def check_quorum(self, timeout: float) -> None:
        """Raise StoreUnavailable unless etcd can commit now. A linearizable read needs the
        same quorum as a write; `ping`'s Status does not (one member answers it alone). A
        count-only range, with require-leader so that a member without leader says so at once
        (and the next member is asked); `timeout` bounds the wait while a member has not yet
        noticed it lost its peers."""
        def fn(c, t):
            request = etcd3.etcdrpc.RangeRequest(key=self.prefix.encode("utf-8"), count_only=True)
            c.kvstub.Range(request, t, credentials=c.call_credentials, metadata=_require_leader(c))

        await self._call(fn, timeout=timeout)

    def _range(self, c, t, key: str, prefix: bool = False):
        range_end = etcd3.utils.increment_last_byte(etcd3.utils.to_bytes(key)) if prefix else None
        request = c._build_get_range_request(key, range_end=range_end)
        return c.kvstub.Range(request, t, credentials=c.call_credentials, metadata=c.metadata)

    async def get(self, policy_id: str) -> EtcdEntry | None:
        def fn(c, t):
            resp = self._range(c, t, self.key(policy_id))
            if not resp.kvs:
                return None
            kv = resp.kvs[0]
            return EtcdEntry(kv.value.decode("utf-8"), kv.mod_revision)

        return await self._call(fn)

    async def list(self) -> tuple[int, dict[str, EtcdEntry]]:
        def fn(c, t):
            resp = self._range(c, t, self.prefix, prefix=True)
            out = {}
            for kv in resp.kvs:
                suffix = kv.key.decode("utf-8")[len(self.prefix):]
                # A deeper key is another store's (the documents under data/): adopting it as
                # a policy here would have the Rego reconciler claim and compile it.
                if "/" not in suffix:
                    out[suffix] = EtcdEntry(kv.value.decode("utf-8"), kv.mod_revision)
            return resp.header.revision, out

        return await self._call(fn)

    def _txn(self, c, t, compare, success) -> tuple[bool, int]:
        request = etcd3.etcdrpc.TxnRequest(
            compare=[cmp.build_message() for cmp in compare],
            success=c._ops_to_requests(success),
            failure=[],
        )
        resp = c.kvstub.Txn(request, t, credentials=c.call_credentials, metadata=_require_leader(c))
        return resp.succeeded, resp.header.revision

    async def put_if(self, policy_id: str, value: str, expected_mod_revision: int) -> int | None:
        """Put `value` if the key's mod revision is `expected_mod_revision` (0: the key is
        absent). Returns the new revision, or None when the comparison failed."""
        key = self.key(policy_id)

        def fn(c, t):
            tx = c.transactions
            cond = tx.version(key) == 0 if expected_mod_revision == 0 else tx.mod(key) == expected_mod_revision
            ok, rev = self._txn(c, t, [cond], [tx.put(key, value.encode("utf-8"))])
            return rev if ok else None

        return await self._call(fn, write=True)

    async def delete_if(self, policy_id: str, expected_mod_revision: int) -> int | None:
        """Delete the key if its mod revision is `expected_mod_revision` (which must be > 0).
        Returns the deletion's revision, or None when the comparison failed."""
        key = self.key(policy_id)

        def fn(c, t):
            tx = c.transactions
            ok, rev = self._txn(c, t, [tx.mod(key) == expected_mod_revision], [tx.delete(key)])
            return rev if ok else None

        return await self._call(fn, write=True)

    def close(self) -> None:
        if self._owns_members:
            self.members.close()


# --------------------------------------------------------------------------- MongoDB


def _mongo_errors(fn):
    async def wrapper(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except pymongo.errors.DuplicateKeyError:
            raise
        except (pymongo.errors.ConnectionFailure, pymongo.errors.ServerSelectionTimeoutError,
                pymongo.errors.NetworkTimeout) as exc:
            raise StoreUnavailable("mongo", f"{type(exc).__name__}: {str(exc)[:200]}", None) from exc
        except pymongo.errors.PyMongoError as exc:
            raise StoreUnavailable("mongo", f"{type(exc).__name__}: {str(exc)[:200]}", None) from exc

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


class MongoMetadata:
    """Policy metadata and user profiles in MongoDB (database `halab` by default).

    Conditional writes take a filter besides the `_id`; they return whether a document
    matched, which is how the write protocol detects a concurrent change. `collection` and
    `claims` name where the records and their version claims live; `documents()` is the same
    store for the policy documents (`policy_data`, `policy_data_claims`) over the same client.

        meta = MongoMetadata("mongodb://127.0.0.1:27017/")
        doc = await meta.get_policy("authz")
        docs = meta.documents()
    """

    def __init__(self, url: str, db: str = "halab", timeout_ms: int = 3000, *, collection: str = "policies",
                 claims: str = "policy_claims", client: AsyncMongoClient | None = None) -> None:
        self._owns_client = client is None
        self._client = client or AsyncMongoClient(
            url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms, 5000), retryWrites=False, tz_aware=True,
        )
        self._db = self._client[db]
        self.policies = self._db[collection]
        self.claims = self._db[claims]
        self.users = self._db["users"]

    def documents(self) -> MongoMetadata:
        return MongoMetadata("", self._db.name, collection="policy_data", claims="policy_data_claims",
                             client=self._client)

    @_mongo_errors
    async def ping(self) -> None:
        await self._db.command("ping")

    @_mongo_errors
    async def get_policy(self, policy_id: str) -> dict | None:
        return await self.policies.find_one({"_id": policy_id})

    @_mongo_errors
    async def list_policies(self) -> list[dict]:
        return [d async for d in self.policies.find({}).sort("_id", 1)]

    @_mongo_errors
    async def insert_policy(self, doc: dict) -> bool:
        try:
            await self.policies.insert_one(doc)
        except pymongo.errors.DuplicateKeyError:
            return False
        return True

    @_mongo_errors
    async def update_policy_if(self, policy_id: str, cond: dict, update: dict) -> bool:
        res = await self.policies.update_one({"_id": policy_id, **cond}, update)
        return res.matched_count == 1

    @_mongo_errors
    async def delete_policy_if(self, policy_id: str, cond: dict) -> bool:
        res = await self.policies.delete_one({"_id": policy_id, **cond})
        return res.deleted_count == 1

    @_mongo_errors
    async def claim_version(self, policy_id: str, version: int, token: str, at) -> bool:
        """Claim the right to write `version` of a policy: an insert with a unique _id, the
        one write that is atomic on every MongoDB the lab uses (FerretDB v1 checks an
        update's filter and writes the document in two steps)."""
        try:
            await self.claims.insert_one({"_id": f"{policy_id}@{version}", "policy_id": policy_id,
                                          "version": version, "token": token, "at": at})
        except pymongo.errors.DuplicateKeyError:
            return False
        return True

    @_mongo_errors
    async def release_claim(self, policy_id: str, version: int, token: str) -> None:
        """Give a version back (its update was rolled back), so the next writer can take it."""
        await self.claims.delete_one({"_id": f"{policy_id}@{version}", "token": token})

    @_mongo_errors
    async def get_user(self, name: str) -> dict | None:
        return await self.users.find_one({"_id": name})

    @_mongo_errors
    async def list_users(self) -> list[dict]:
        return [d async for d in self.users.find({}).sort("_id", 1)]

    @_mongo_errors
    async def put_user(self, doc: dict) -> bool:
        """Upsert; returns True when the user was created."""
        res = await self.users.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        return res.upserted_id is not None

    @_mongo_errors
    async def delete_user(self, name: str) -> bool:
        res = await self.users.delete_one({"_id": name})
        return res.deleted_count == 1

    async def close(self) -> None:
        if self._owns_client:
            await self._client.close()


# --------------------------------------------------------------------------- OPA

SCRATCH_PREFIX = "halab_cms_validate_"
_PACKAGE = re.compile(r"^(\s*package\s+)(\S+)", re.MULTILINE)


class OpaCompiler:
    """Has OPA compile a policy without it ever taking part in a decision.

    The Rego is PUT under a scratch id, with its package moved under a scratch namespace
    (so it cannot clash with, or add rules to, the live policies), then deleted. OPA's
    error messages come back with the policy's own id and package.

        await OpaCompiler("http://127.0.0.1:8181").validate("authz", "package halab.authz ...")
    """

    def __init__(self, url: str, timeout: float = 5.0, client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout, verify=client_context())

    async def ping(self) -> None:
        try:
            r = await self._client.get(f"{self.url}/health")
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise StoreUnavailable("opa", f"{type(exc).__name__}: {exc}") from exc

    async def validate(self, policy_id: str, rego: str) -> None:
        token = uuid.uuid4().hex[:12]
        scratch_id = f"{SCRATCH_PREFIX}{token}"
        namespace = f"{SCRATCH_PREFIX}{token}"
        source, moved = _PACKAGE.subn(lambda m: f"{m.group(1)}{namespace}.{m.group(2)}", rego, count=1)
        try:
            r = await self._client.put(f"{self.url}/v1/policies/{scratch_id}", content=source.encode("utf-8"),
                                       headers={"Content-Type": "text/plain"})
            if r.status_code == 200:
                return
            body = _json_or_text(r)
        except httpx.HTTPError as exc:
            raise StoreUnavailable("opa", f"{type(exc).__name__}: {exc}") from exc
        finally:
            try:
                await self._client.delete(f"{self.url}/v1/policies/{scratch_id}")
            except httpx.HTTPError:
                pass  # policy_sync's resync removes scratch policies that outlive a crash
        if r.status_code >= 500:
            raise StoreUnavailable("opa", f"HTTP {r.status_code}: {body}")

        def clean(text: str) -> str:
            return text.replace(f"{namespace}.", "").replace(namespace, "").replace(scratch_id, policy_id)

        errors = []
        if isinstance(body, dict):
            for e in body.get("errors") or []:
                loc = e.get("location") or {}
                errors.append({"code": e.get("code"), "message": clean(str(e.get("message", ""))),
                               "row": loc.get("row"), "col": loc.get("col")})
            message = clean(str(body.get("message", "")))
        else:
            message = clean(str(body))
        lines = [f"{policy_id}:{e['row']}: {e['code']}: {e['message']}" for e in errors]
        raise RegoInvalid("; ".join([message, *lines]) if lines else message, errors)

    async def close(self) -> None:
        await self._client.aclose()


def _json_or_text(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.text[:2000]


class PolicySyncProbe:
    """Reads the local policy_sync's /status: which etcd revision OPA has loaded."""

    def __init__(self, url: str, timeout: float = 2.0, client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout, verify=client_context())

    async def status(self) -> dict:
        r = await self._client.get(f"{self.url}/status")
        r.raise_for_status()
        return r.json()

    async def close(self) -> None:
        await self._client.aclose()
