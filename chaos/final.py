"""Final reads after heal (Jepsen's final generator): what each store holds for each policy a
run wrote, as `final` events the invariants are checked against.

    mongo    the CMS's record through the VIP (its metadata store, "Atlas"): version, sha256
    etcdN    every etcd member, a serializable read of its own copy
    opaN     every OPA's loaded policy
"""

from __future__ import annotations

import base64
import hashlib

import httpx

TIMEOUT_S = 5.0


def _sha(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def reads(state, policy_ids, admin_key: str, prefix: str = "/policies/") -> list[dict]:
    out = []
    with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as http:
        for pid in sorted(policy_ids):
            try:
                r = http.get(f"{state.vip_url}/cms/policies/{pid}", headers={"apikey": admin_key})
                body = r.json() if r.status_code == 200 else {}
                out.append({"policy": pid, "store": "mongo", "version": body.get("version"),
                            "status": body.get("status"), "sha256": body.get("sha256") or _sha(body.get("rego"))})
            except (httpx.HTTPError, ValueError) as exc:
                out.append({"policy": pid, "store": "mongo", "error": type(exc).__name__})
            for name, c in state.components.items():
                if c["kind"] == "etcd":
                    out.append({"policy": pid, "store": name, **_etcd(http, c, prefix + pid)})
                elif c["kind"] == "opa":
                    out.append({"policy": pid, "store": name, **_opa(http, c, pid)})
    return out


def _etcd(http: httpx.Client, c: dict, key: str) -> dict:
    url = f"http://{c['address']}:{c['ports']['client']}/v3/kv/range"
    try:
        body = http.post(url, json={"key": base64.b64encode(key.encode()).decode(), "serializable": True}).json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": type(exc).__name__}
    kvs = body.get("kvs") or []
    return {"sha256": _sha(base64.b64decode(kvs[0]["value"]).decode()) if kvs else None}


def _opa(http: httpx.Client, c: dict, pid: str) -> dict:
    try:
        r = http.get(f"http://{c['address']}:{c['ports']['http']}/v1/policies/{pid}")
    except httpx.HTTPError as exc:
        return {"error": type(exc).__name__}
    return {"sha256": _sha(r.json()["result"]["raw"]) if r.status_code == 200 else None}
