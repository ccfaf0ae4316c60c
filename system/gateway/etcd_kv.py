"""Reads and writes single keys through etcd's v3 HTTP/JSON gateway, for the Admin API.

    kv = EtcdKV(EtcdHttp(session), ["http://etcd1:2379"])
    entry = await kv.get("/apisix/routes/1")          # None, or an Entry
    created, entry = await kv.put("/apisix/routes/1", {"uri": "/x"})

Endpoints are tried in order; an etcd that cannot answer raises EtcdUnavailable, which the
Admin API answers 503 (a write that cannot be made is never reported as made).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from .etcd_http import EtcdAuthFailed, EtcdHttp
from .etcd_source import _b64, _decode, _prefix_end


class EtcdUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Entry:
    key: str
    value: Any
    create_revision: int
    mod_revision: int


class EtcdKV:
    def __init__(self, http: EtcdHttp, endpoints: list[str], timeout_s: float = 3.0):
        self.http = http
        self.endpoints = endpoints
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _post(self, path: str, body: dict) -> dict:
        last = "no endpoint"
        for endpoint in self.endpoints:
            try:
                async with self.http.post(endpoint, path, body, self.timeout) as resp:
                    data = await resp.json(content_type=None)
                    if resp.status == 200:
                        return data
                    last = f"{endpoint} answered {resp.status}: {str(data)[:200]}"
            except (aiohttp.ClientError, TimeoutError, ValueError, EtcdAuthFailed) as exc:
                last = f"{endpoint}: {type(exc).__name__}"
        raise EtcdUnavailable(last)

    async def get(self, key: str) -> Entry | None:
        data = await self._post("/v3/kv/range", {"key": _b64(key)})
        kvs = data.get("kvs") or []
        return _entry(kvs[0]) if kvs else None

    async def list(self, prefix: str) -> list[Entry]:
        data = await self._post("/v3/kv/range", {"key": _b64(prefix), "range_end": _prefix_end(prefix)})
        return [_entry(kv) for kv in data.get("kvs") or []]

    async def put(self, key: str, value: Any) -> tuple[bool, Entry]:
        """Write `value` as JSON; returns (created, the entry as written)."""
        data = await self._post("/v3/kv/txn", {
            "compare": [{"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": {"key": _b64(key), "value": _b64(json.dumps(value))}}],
            "failure": [{"request_put": {"key": _b64(key), "value": _b64(json.dumps(value)), "prev_kv": True}}],
        })
        created = bool(data.get("succeeded"))
        rev = int(data["header"]["revision"])
        prev = ((data.get("responses") or [{}])[0].get("response_put") or {}).get("prev_kv")
        return created, Entry(key, value, rev if created else int(prev["create_revision"]) if prev else rev, rev)

    async def delete(self, key: str) -> int:
        data = await self._post("/v3/kv/deleterange", {"key": _b64(key)})
        return int(data.get("deleted") or 0)


def _entry(kv: dict) -> Entry:
    return Entry(base64.b64decode(kv["key"]).decode(), _decode(kv.get("value")),
                 int(kv.get("create_revision") or 0), int(kv.get("mod_revision") or 0))
