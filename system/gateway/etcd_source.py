"""Feeds the gateway's config from etcd through etcd's v3 HTTP/JSON gateway.

Full load (`/v3/kv/range` over the prefix), then a watch (`/v3/watch`) from the next
revision; every event rebuilds the config snapshot. On any error — etcd stopped, stream
closed, watch compacted — the last snapshot keeps serving and the source reconnects with
backoff and does a full reload (so events missed while away cannot be lost).

    source = EtcdConfigSource(EtcdHttp(session), ["http://etcd1:2379"], "/apisix", on_config=apply)
    task = asyncio.create_task(source.run())
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from system.gateway.etcd_http import EtcdHttp

log = logging.getLogger(__name__)


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _prefix_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode()


def _decode(value_b64: str | None) -> Any:
    try:
        return json.loads(base64.b64decode(value_b64 or "").decode() or "null")
    except (ValueError, UnicodeDecodeError) as exc:
        return exc


class EtcdConfigSource:
    def __init__(
        self,
        http: EtcdHttp,
        endpoints: list[str],
        prefix: str,
        on_config: Callable[[dict[str, Any], int], None],
        *,
        timeout_s: float = 3.0,
        reconnect_min_s: float = 0.2,
        reconnect_max_s: float = 3.0,
        probe_interval_s: float = 1.0,
        probe_timeout_s: float = 1.0,
        probe_failures: int = 2,
    ):
        self.http = http
        self.endpoints = endpoints
        self.prefix = prefix.rstrip("/") + "/"
        self.on_config = on_config
        self.timeout_s = timeout_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.probe_interval_s = probe_interval_s
        self.probe_timeout_s = probe_timeout_s
        self.probe_failures = probe_failures
        self.kv: dict[str, Any] = {}
        self.revision = 0
        self.connected = False
        self.loads = 0
        self.last_error: str | None = None
        self.last_event_at: float | None = None
        self._endpoint_idx = 0
        self.loaded = asyncio.Event()

    @property
    def endpoint(self) -> str:
        return self.endpoints[self._endpoint_idx % len(self.endpoints)]

    async def run(self) -> None:
        delay = self.reconnect_min_s
        while True:
            try:
                await self._load()
                delay = self.reconnect_min_s
                await self._watch_while_alive()
                self.last_error = "watch stream ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: keep last config, reconnect
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("etcd %s: %s; serving config at revision %s", self.endpoint, self.last_error, self.revision)
            self.connected = False
            self._endpoint_idx += 1
            await asyncio.sleep(delay)
            delay = min(self.reconnect_max_s, delay * 2)

    async def _watch_while_alive(self) -> None:
        """The watch, raced against a liveness probe on a second connection.

        A killed etcd looks like a blackhole (no FIN, no RST): the watch stream would wait
        forever and miss everything after etcd's restart. The probe notices and ends the
        watch, so the loop reconnects and reloads in full.
        """
        watch = asyncio.ensure_future(self._watch())
        probe = asyncio.ensure_future(self._liveness())
        try:
            done, _ = await asyncio.wait({watch, probe}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (watch, probe):
                t.cancel()
            await asyncio.gather(watch, probe, return_exceptions=True)
        for t in done:
            t.result()  # re-raise what ended it

    async def _liveness(self) -> None:
        failures = 0
        timeout = aiohttp.ClientTimeout(total=self.probe_timeout_s)
        while True:
            await asyncio.sleep(self.probe_interval_s)
            try:
                async with self.http.post(self.endpoint, "/v3/maintenance/status", {}, timeout) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            failures = 0 if ok else failures + 1
            if failures >= self.probe_failures:
                raise RuntimeError(f"etcd did not answer {failures} liveness probes")

    async def _load(self) -> None:
        body = {"key": _b64(self.prefix), "range_end": _prefix_end(self.prefix)}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with self.http.post(self.endpoint, "/v3/kv/range", body, timeout) as resp:
            if resp.status != 200:
                raise RuntimeError(f"range answered {resp.status}")
            data = await resp.json(content_type=None)
        kv = {}
        for item in data.get("kvs") or []:
            kv[base64.b64decode(item["key"]).decode()] = _decode(item.get("value"))
        self.kv = kv
        self.revision = int(data["header"]["revision"])
        self.loads += 1
        self.connected = True
        self.on_config(dict(self.kv), self.revision)
        self.loaded.set()

    async def _watch(self) -> None:
        body = {"create_request": {"key": _b64(self.prefix), "range_end": _prefix_end(self.prefix),
                                   "start_revision": self.revision + 1}}
        # No total timeout: the stream lives as long as etcd does. A connect timeout still
        # applies so an unreachable endpoint does not stall the reconnect loop.
        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout_s, sock_connect=self.timeout_s)
        async with self.http.post(self.endpoint, "/v3/watch", body, timeout) as resp:
            if resp.status != 200:
                raise RuntimeError(f"watch answered {resp.status}")
            async for msg in _json_lines(resp):
                if "error" in msg:
                    raise RuntimeError(f"watch error: {msg['error']}")
                result = msg.get("result") or {}
                if result.get("compact_revision") and int(result["compact_revision"]) > 0:
                    raise RuntimeError("watch compacted; reloading")
                if result.get("canceled"):
                    raise RuntimeError(f"watch canceled: {result.get('cancel_reason', '')}")
                events = result.get("events") or []
                if not events:
                    continue
                for ev in events:
                    kv = ev.get("kv") or {}
                    key = base64.b64decode(kv.get("key", "")).decode()
                    if ev.get("type") == "DELETE":
                        self.kv.pop(key, None)
                    else:
                        self.kv[key] = _decode(kv.get("value"))
                    self.revision = max(self.revision, int(kv.get("mod_revision", 0)))
                self.revision = max(self.revision, int((result.get("header") or {}).get("revision", 0)))
                self.last_event_at = time.time()
                self.on_config(dict(self.kv), self.revision)


async def _json_lines(resp: aiohttp.ClientResponse):
    """The watch stream's newline-separated JSON messages, however large (a transaction of
    many keys is one message; aiohttp's readline would refuse lines over 128 KiB)."""
    buf = b""
    async for chunk in resp.content.iter_any():
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
    if buf.strip():
        yield json.loads(buf)

