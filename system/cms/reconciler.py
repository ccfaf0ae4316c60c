"""The reconciler: repairs every disagreement between MongoDB metadata and etcd content.

| metadata                    | etcd                               | repair                                   |
|-----------------------------|------------------------------------|------------------------------------------|
| pending put                 | holds the pending content          | roll forward (activate, revision = etcd's)|
| pending delete              | key absent                         | roll forward (status deleted)            |
| pending, older than grace   | anything else                      | roll back to the last committed version  |
| active                      | key absent                         | restore the content (new version)        |
| active                      | other content                      | rewrite the metadata's content (new version) |
| active                      | same content, other mod revision   | record etcd's revision                   |
| deleted                     | key present                        | delete it (new version)                  |
| none                        | key present                        | adopt it as version 1, author reconciler |

MongoDB wins over etcd because the metadata is `active` only after etcd acknowledged the
write: it is the record of acknowledged updates. Every repair of etcd goes through the
same protocol as a user's update (author `reconciler`), so it races safely with requests.
A disagreement is repaired within `interval + grace` once both stores answer.

    repairs = await Reconciler(service, grace_s=15).run_once()
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import asdict, dataclass

from system.cms.policies import RECONCILER_AUTHOR, Conflict, PolicyService, WriteFailed, sha256
from system.cms.stores import EtcdEntry, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Repair:
    id: str
    action: str
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


class Reconciler:
    """Compares both stores policy by policy and repairs what disagrees.

        rec = Reconciler(service, grace_s=15.0, interval_s=5.0)
        task = asyncio.create_task(rec.run_forever())
    """

    def __init__(self, service: PolicyService, grace_s: float = 15.0, interval_s: float = 5.0) -> None:
        self.service = service
        self.grace_s = grace_s
        self.interval_s = interval_s
        self._lock = asyncio.Lock()
        self.last_error: str | None = None
        self.runs = 0
        self.repairs_total = 0
        self.repaired: collections.Counter[str] = collections.Counter()  # by action

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except StoreUnavailable as exc:
                self.last_error = str(exc)
                log.info("reconciler: pass skipped: %s", exc)
            except Exception:
                log.exception("reconciler: pass failed")
            await asyncio.sleep(self.interval_s)

    async def run_once(self) -> list[Repair]:
        async with self._lock:
            svc = self.service
            docs = {d["_id"]: d for d in await svc.meta.list_policies()}
            revision, entries = await svc.etcd.list()
            repairs: list[Repair] = []
            for pid in sorted(set(docs) | set(entries)):
                try:
                    repair = await self._repair(pid, docs.get(pid), entries.get(pid), revision)
                except (Conflict, WriteFailed) as exc:
                    # A request changed the policy meanwhile; the next pass looks again.
                    log.info("reconciler: %s: left for the next pass: %s", pid, exc)
                    continue
                if repair:
                    log.warning("reconciler repaired %s: %s (%s)", repair.id, repair.action, repair.detail)
                    repairs.append(repair)
            self.runs += 1
            self.repairs_total += len(repairs)
            self.repaired.update(r.action for r in repairs)
            self.last_error = None
            return repairs

    async def _repair(self, pid: str, doc: dict | None, entry: EtcdEntry | None, revision: int) -> Repair | None:
        svc = self.service
        if doc is not None and doc["status"] == "pending":
            p = doc["pending"]
            if p["op"] == "put" and entry is not None and sha256(entry.value) == p["sha256"]:
                if await svc.finish(pid, p, entry.mod_revision):
                    return Repair(pid, "rolled forward", f"v{p['version']} was in etcd at revision {entry.mod_revision}")
                return None
            if p["op"] == "delete" and entry is None:
                if await svc.finish(pid, p, revision):
                    return Repair(pid, "rolled forward", f"v{p['version']} (delete) was applied in etcd")
                return None
            age = (svc.now() - p["started_at"]).total_seconds()
            if age >= self.grace_s and await svc.rollback(pid, p["token"]):
                return Repair(pid, "rolled back", f"pending v{p['version']} ({p['op']}) never reached etcd "
                                                  f"({age:.1f} s old)")
            return None

        if doc is None:
            if entry is None:
                return None
            now = svc.now()
            digest = sha256(entry.value)
            ok = await svc.meta.insert_policy({
                "_id": pid, "version": 1, "status": "active", "author": RECONCILER_AUTHOR,
                "description": "adopted from etcd (content without metadata)", "etcd_revision": entry.mod_revision,
                "rego": entry.value, "sha256": digest, "pending": None, "updated_at": now,
                "history": [{"version": 1, "author": RECONCILER_AUTHOR, "description": "adopted from etcd",
                             "etcd_revision": entry.mod_revision, "at": now, "op": "put", "sha256": digest}],
            })
            return Repair(pid, "adopted", f"etcd content at revision {entry.mod_revision} had no metadata") if ok else None

        if doc["status"] == "deleted":
            if entry is None:
                return None
            res = await svc._write(pid, doc, "delete", None, RECONCILER_AUTHOR, doc.get("description", ""),
                                   entry.mod_revision)
            return Repair(pid, "deleted from etcd", f"policy is deleted in metadata; v{res.version} at revision "
                                                    f"{res.etcd_revision}")

        # active
        if entry is None:
            res = await svc._write(pid, doc, "put", doc["rego"], RECONCILER_AUTHOR, doc.get("description", ""), 0)
            return Repair(pid, "restored", f"v{doc['version']} was missing from etcd; now v{res.version} at "
                                           f"revision {res.etcd_revision}")
        if sha256(entry.value) != doc["sha256"]:
            res = await svc._write(pid, doc, "put", doc["rego"], RECONCILER_AUTHOR, doc.get("description", ""),
                                   entry.mod_revision)
            return Repair(pid, "rewritten", f"etcd held other content than v{doc['version']}; now v{res.version} "
                                            f"at revision {res.etcd_revision}")
        if entry.mod_revision != doc["etcd_revision"]:
            ok = await svc.meta.update_policy_if(
                pid, {"version": doc["version"], "status": "active", "etcd_revision": doc["etcd_revision"]},
                {"$set": {"etcd_revision": entry.mod_revision, "updated_at": svc.now()}})
            return Repair(pid, "revision recorded", f"etcd_revision {doc['etcd_revision']} -> {entry.mod_revision}") if ok else None
        return None
