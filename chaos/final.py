"""Final reads after heal (Jepsen's final generator): what each store holds for each policy a
run wrote, as `final` events the invariants are checked against.

    mongo    the CMS's record through the VIP (its metadata store, "Atlas"): version, sha256
    etcdN    every etcd member, a serializable read of its own copy
    opaN     every OPA's loaded policy (the module of policy_sync's bundle)
"""

from __future__ import annotations

import contextlib
import hashlib

import httpx

from harness.topology import etcd_tls, trust
from harness.topology.state import State
from system.policy_sync.bundle import module_id

TIMEOUT_S = 5.0


def _sha(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def reads(state: State, policy_ids, admin_key: str, prefix: str = "/policies/") -> list[dict]:
    out = []
    with trust.client(state, timeout=TIMEOUT_S) as http, contextlib.ExitStack() as stack:
        # One client per member for every read: each is a TLS handshake (a channel connects lazily,
        # so a member that is down fails its reads, not this).
        etcd = {c.name: stack.enter_context(etcd_tls.as_root(state, c.name, TIMEOUT_S)) for c in state.of_kind("etcd")}
        for pid in sorted(policy_ids):
            try:
                r = http.get(f"{state.vip_url}/cms/policies/{pid}", headers={"apikey": admin_key})
                body = r.json() if r.status_code == 200 else {}
                out.append({"policy": pid, "store": "mongo", "version": body.get("version"),
                            "status": body.get("status"), "sha256": body.get("sha256") or _sha(body.get("rego"))})
            except (httpx.HTTPError, ValueError) as exc:
                out.append({"policy": pid, "store": "mongo", "error": type(exc).__name__})
            for c in state.all_components():
                if c.kind == "etcd":
                    out.append({"policy": pid, "store": c.name, **_etcd(etcd[c.name], prefix + pid)})
                elif c.kind == "opa":
                    out.append({"policy": pid, "store": c.name, **_opa(http, state, c.name, pid)})
    return out


def _etcd(client, key: str) -> dict:
    try:
        kvs = client.kvstub.Range(etcd_tls.range_request(key, serializable=True), TIMEOUT_S).kvs
    except Exception as exc:  # noqa: BLE001 - grpc's errors and a refused TLS alike: the store could not say
        return {"error": type(exc).__name__}
    return {"sha256": _sha(kvs[0].value.decode()) if kvs else None}


def _opa(http: httpx.Client, state: State, name: str, pid: str) -> dict:
    try:
        r = http.get(f"{state.url(name)}/v1/policies/{module_id(pid)}", extensions=trust.named(state, name))
    except httpx.HTTPError as exc:
        return {"error": type(exc).__name__}
    return {"sha256": _sha(r.json()["result"]["raw"]) if r.status_code == 200 else None}
