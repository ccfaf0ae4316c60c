"""`$secret://vault/<id>/<path>/<field>` references resolved through OpenBao, as APISIX does.

APISIX's Vault secret manager (`/apisix/secrets/vault/<id>` = {"uri", "prefix", ...}) reads
`GET <uri>/v1/<prefix>/<path>` and takes `data[<field>]`: a KV version 1 mount. This reader
does the same, but logs in with AppRole (whose policy may read only that path) instead of a
static token.

Values are cached for `ttl_s`. A background refresher re-reads values before they expire, so
the hot path does not wait on OpenBao while it is healthy. When OpenBao fails, the cached
value is served up to `max_stale_s` past its expiry; after that `SecretUnavailable` is raised
and the plugin answers 503. Secret values are never logged.

    secrets = SecretStore(session, role_id="...", secret_id="...", ttl_s=30, max_stale_s=300)
    key = await secrets.resolve("$secret://vault/1/llm/api_key", managers={"vault/1": {...}})
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

import aiohttp

log = logging.getLogger(__name__)

SECRET_REF = re.compile(r"\$secret://(vault)/([^/\s]+)/([^\s\"']+)")


class SecretUnavailable(Exception):
    """No value, or only one staler than max-stale: the request cannot be served."""


@dataclass
class _Entry:
    value: str
    fetched_at: float
    last_used: float


class SecretStore:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        role_id: str = "",
        secret_id: str = "",
        approle_mount: str = "approle",
        default_uri: str = "http://127.0.0.1:8200",
        ttl_s: float = 30.0,
        max_stale_s: float = 300.0,
        timeout_s: float = 2.0,
        retry_backoff_s: float = 1.0,
        clock=time.monotonic,
    ):
        self.session = session
        self._role_id = role_id
        self._secret_id = secret_id
        self.approle_mount = approle_mount
        self.default_uri = default_uri
        self.ttl_s = ttl_s
        self.max_stale_s = max_stale_s
        self.timeout_s = timeout_s
        self.retry_backoff_s = retry_backoff_s
        self.clock = clock
        self._cache: dict[tuple[str, str, str], _Entry] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._failed_at: dict[tuple[str, str, str], float] = {}
        self._token: dict[str, tuple[str, float]] = {}  # uri -> (token, expires_at)
        self.hits = 0
        self.reads = 0
        self.failures = 0
        self.stale_served = 0
        self.last_error: str | None = None

    # -- public ---------------------------------------------------------------------------

    @staticmethod
    def has_refs(text: str) -> bool:
        return "$secret://" in text

    async def resolve(self, text: str, managers: dict[str, dict]) -> str:
        """Replace every `$secret://vault/...` reference in `text` with its value."""
        out, pos = [], 0
        for m in SECRET_REF.finditer(text):
            out.append(text[pos:m.start()])
            out.append(await self.get(f"{m.group(1)}/{m.group(2)}", m.group(3), managers))
            pos = m.end()
        out.append(text[pos:])
        return "".join(out)

    async def get(self, manager_id: str, key: str, managers: dict[str, dict], *, force: bool = False) -> str:
        conf = managers.get(manager_id) or {}
        uri = str(conf.get("uri") or self.default_uri).rstrip("/")
        prefix = str(conf.get("prefix") or "kv/apisix").strip("/")
        ck = (uri, prefix, key)
        now = self.clock()
        entry = self._cache.get(ck)
        if entry is not None and not force and now - entry.fetched_at < self.ttl_s:
            entry.last_used = now
            self.hits += 1
            return entry.value
        lock = self._locks.get(ck)
        if entry is not None and not force and lock is not None and lock.locked() and self._servable(entry, now):
            # A refresh is under way (the background refresher, or OpenBao is slow): the hot
            # path does not queue behind it while the cached value may still be served.
            self.stale_served += 1
            return entry.value
        return await self._refresh(ck, conf, force=force)

    def invalidate(self, manager_id: str, key: str, managers: dict[str, dict]) -> None:
        conf = managers.get(manager_id) or {}
        ck = (str(conf.get("uri") or self.default_uri).rstrip("/"), str(conf.get("prefix") or "kv/apisix").strip("/"), key)
        self._cache.pop(ck, None)

    def status(self) -> dict:
        now = self.clock()
        return {
            "cached": [{"path": f"{p}/{k}", "age_s": round(now - e.fetched_at, 3)} for (_, p, k), e in self._cache.items()],
            "hits": self.hits,
            "reads": self.reads,
            "failures": self.failures,
            "stale_served": self.stale_served,
            "last_error": self.last_error,
            "ttl_s": self.ttl_s,
            "max_stale_s": self.max_stale_s,
        }

    async def refresh_loop(self, managers_getter) -> None:
        """Re-read values in use before they expire (at 3/4 of the TTL)."""
        while True:
            await asyncio.sleep(max(0.05, self.ttl_s / 4))
            now = self.clock()
            for ck, entry in list(self._cache.items()):
                if now - entry.fetched_at >= 0.75 * self.ttl_s and now - entry.last_used < 10 * self.ttl_s + 60:
                    try:
                        await self._refresh(ck, {"uri": ck[0], "prefix": ck[1]}, background=True)
                    except SecretUnavailable:
                        pass

    # -- internals ------------------------------------------------------------------------

    async def _refresh(self, ck, conf: dict, *, force: bool = False, background: bool = False) -> str:
        lock = self._locks.setdefault(ck, asyncio.Lock())
        async with lock:
            now = self.clock()
            entry = self._cache.get(ck)
            fresh_limit = 0.75 * self.ttl_s if background else self.ttl_s
            if entry is not None and not force and now - entry.fetched_at < fresh_limit:
                return entry.value
            failed_at = self._failed_at.get(ck)
            if not background and not force and entry is not None and failed_at is not None \
                    and now - failed_at < self.retry_backoff_s and self._servable(entry, now):
                return self._stale(ck, entry, now)
            try:
                value = await self._read(ck, conf)
            except Exception as exc:
                self.failures += 1
                self._failed_at[ck] = self.clock()
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("secret read %s/%s failed: %s", ck[1], ck[2].rsplit("/", 1)[0], self.last_error)
                if entry is None:
                    raise SecretUnavailable(f"secret {ck[2]} never read: {self.last_error}") from exc
                return self._stale(ck, entry, self.clock())
            self._failed_at.pop(ck, None)
            self._cache[ck] = _Entry(value=value, fetched_at=self.clock(), last_used=self.clock())
            return value

    def _servable(self, entry: _Entry, now: float) -> bool:
        return now - entry.fetched_at < self.ttl_s + self.max_stale_s

    def _stale(self, ck, entry: _Entry, now: float) -> str:
        if self._servable(entry, now):
            self.stale_served += 1
            return entry.value
        raise SecretUnavailable(f"secret {ck[2]} is staler than max-stale and OpenBao fails: {self.last_error}")

    async def _read(self, ck, conf: dict) -> str:
        uri, prefix, key = ck
        main, _, field = key.rpartition("/")
        if not main or not field:
            raise SecretUnavailable(f"secret key {key!r} needs <path>/<field>")
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        for attempt in range(2):
            token = await self._login(uri, force=attempt > 0, static=conf.get("token"))
            async with self.session.get(f"{uri}/v1/{prefix}/{main}", headers={"X-Vault-Token": token},
                                        timeout=timeout) as resp:
                self.reads += 1
                if resp.status == 403 and attempt == 0:
                    continue  # token expired or revoked: log in again once
                if resp.status != 200:
                    raise RuntimeError(f"OpenBao answered {resp.status} for {prefix}/{main}")
                data = await resp.json(content_type=None)
            value = (data.get("data") or {}).get(field)
            if not isinstance(value, str) or not value:
                raise RuntimeError(f"no field {field!r} at {prefix}/{main}")
            return value
        raise RuntimeError("OpenBao denied the read after a fresh login")

    async def _login(self, uri: str, *, force: bool, static) -> str:
        if isinstance(static, str) and static and not static.startswith("$"):
            return static
        cached = self._token.get(uri)
        if cached and not force and self.clock() < cached[1]:
            return cached[0]
        if not self._role_id or not self._secret_id:
            raise RuntimeError("no AppRole credentials configured")
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with self.session.post(f"{uri}/v1/auth/{self.approle_mount}/login",
                                     json={"role_id": self._role_id, "secret_id": self._secret_id},
                                     timeout=timeout) as resp:
            if resp.status != 200:
                raise RuntimeError(f"AppRole login answered {resp.status}")
            auth = (await resp.json(content_type=None)).get("auth") or {}
        token = auth.get("client_token")
        if not token:
            raise RuntimeError("AppRole login gave no token")
        lease = float(auth.get("lease_duration") or 3600)
        # Renew by logging in again at 80 % of the lease.
        self._token[uri] = (token, self.clock() + 0.8 * lease)
        return token
