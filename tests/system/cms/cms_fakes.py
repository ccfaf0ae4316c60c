"""In-memory stand-ins for MongoDB, etcd and OPA, with switches to make them fail."""

from __future__ import annotations

import copy

from system.cms.stores import EtcdEntry, RegoInvalid, StoreUnavailable


def _get_path(doc: dict, path: str):
    cur = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


class _Shared:
    """What sibling views of one store share: its being down (one client, one server)."""

    down = False


class FakeMetadata:
    def __init__(self, shared: _Shared | None = None) -> None:
        self.docs: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.claims: dict[str, str] = {}
        self._shared = shared or _Shared()
        self._documents: FakeMetadata | None = None

    @property
    def down(self) -> bool:
        return self._shared.down

    @down.setter
    def down(self, value: bool) -> None:
        self._shared.down = value

    def documents(self) -> FakeMetadata:
        """The policy documents' collections (policy_data, policy_data_claims): same server."""
        if self._documents is None:
            self._documents = FakeMetadata(self._shared)
        return self._documents

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("mongo", "ServerSelectionTimeoutError: fake down", None)

    async def ping(self) -> None:
        self._check()

    async def get_policy(self, pid):
        self._check()
        return copy.deepcopy(self.docs.get(pid))

    async def list_policies(self):
        self._check()
        return [copy.deepcopy(self.docs[k]) for k in sorted(self.docs)]

    async def insert_policy(self, doc):
        self._check()
        if doc["_id"] in self.docs:
            return False
        self.docs[doc["_id"]] = copy.deepcopy(doc)
        return True

    def _match(self, pid, cond):
        doc = self.docs.get(pid)
        return doc is not None and all(_get_path(doc, k) == v for k, v in cond.items())

    async def update_policy_if(self, pid, cond, update):
        self._check()
        if not self._match(pid, cond):
            return False
        doc = self.docs[pid]
        for k, v in update.get("$set", {}).items():
            doc[k] = copy.deepcopy(v)
        for k, v in update.get("$push", {}).items():
            doc.setdefault(k, []).append(copy.deepcopy(v))
        return True

    async def delete_policy_if(self, pid, cond):
        self._check()
        if not self._match(pid, cond):
            return False
        del self.docs[pid]
        return True

    async def claim_version(self, pid, version, token, at):
        self._check()
        key = f"{pid}@{version}"
        if key in self.claims:
            return False
        self.claims[key] = token
        return True

    async def release_claim(self, pid, version, token):
        self._check()
        if self.claims.get(f"{pid}@{version}") == token:
            del self.claims[f"{pid}@{version}"]

    async def get_user(self, name):
        self._check()
        return copy.deepcopy(self.users.get(name))

    async def list_users(self):
        self._check()
        return [copy.deepcopy(self.users[k]) for k in sorted(self.users)]

    async def put_user(self, doc):
        self._check()
        created = doc["_id"] not in self.users
        self.users[doc["_id"]] = copy.deepcopy(doc)
        return created

    async def delete_user(self, name):
        self._check()
        return self.users.pop(name, None) is not None


class _Cluster(_Shared):
    revision = 1


class FakeEtcd:
    """Keys by policy id; one global revision, as etcd's, shared with the `documents()` view
    (the keys under data/), which the policies' view does not list, as EtcdPolicies."""

    def __init__(self, cluster: _Cluster | None = None) -> None:
        self.kv: dict[str, EtcdEntry] = {}
        self._cluster = cluster or _Cluster()
        # "unknown": the write is applied but the client sees a timeout.
        self.mode = "ok"
        self.quorum_checks = 0
        self._documents: FakeEtcd | None = None

    @property
    def revision(self) -> int:
        return self._cluster.revision

    @revision.setter
    def revision(self, value: int) -> None:
        self._cluster.revision = value

    @property
    def down(self) -> bool:
        return self._cluster.down

    @down.setter
    def down(self, value: bool) -> None:
        self._cluster.down = value

    def documents(self) -> FakeEtcd:
        if self._documents is None:
            self._documents = FakeEtcd(self._cluster)
        return self._documents

    def _check(self, write=False) -> None:
        if self.down:
            raise StoreUnavailable("etcd", "UNAVAILABLE: fake down", False)

    async def ping(self) -> None:
        self._check()

    async def check_quorum(self, timeout):
        self.quorum_checks += 1
        self._check()

    async def get(self, pid):
        self._check()
        return self.kv.get(pid)

    async def list(self):
        self._check()
        return self.revision, dict(self.kv)

    def raw_put(self, pid, value):
        self.revision += 1
        self.kv[pid] = EtcdEntry(value, self.revision)
        return self.revision

    def raw_delete(self, pid):
        self.revision += 1
        self.kv.pop(pid, None)
        return self.revision

    def _mod(self, pid):
        e = self.kv.get(pid)
        return e.mod_revision if e else 0

    async def put_if(self, pid, value, expected):
        self._check(True)
        if self._mod(pid) != expected:
            return None
        rev = self.raw_put(pid, value)
        if self.mode == "unknown":
            raise StoreUnavailable("etcd", "DEADLINE_EXCEEDED: fake timeout", None)
        return rev

    async def delete_if(self, pid, expected):
        self._check(True)
        if self._mod(pid) != expected or pid not in self.kv:
            return None
        return self.raw_delete(pid)


class FakeCompiler:
    """Rego is "valid" when its first statement is `package` and its braces balance."""

    def __init__(self) -> None:
        self.down = False

    async def ping(self) -> None:
        if self.down:
            raise StoreUnavailable("opa", "ConnectError: fake down")

    async def validate(self, pid, rego):
        await self.ping()
        code = [ln for ln in rego.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        if not code or not code[0].lstrip().startswith("package") or rego.count("{") != rego.count("}"):
            raise RegoInvalid(f"{pid}:1: rego_parse_error: fake parse error",
                              [{"code": "rego_parse_error", "message": "fake parse error", "row": 1, "col": 1}])


class FakeProbe:
    def __init__(self, status: dict | None = None) -> None:
        self.value = status or {"revision": 0, "policies": {}, "errors": {}}

    async def status(self):
        return self.value
