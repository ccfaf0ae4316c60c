"""etcd's v3 HTTP/JSON gateway as the gateway's etcd client: TLS, and etcd's password auth.

etcd takes a client certificate's common name as its user on gRPC only; its HTTP gateway
needs a token (`Authorization: <token>`), as APISIX's own etcd client does. etcd's simple
tokens belong to the member that issued them and die with its process, so a token is kept
per endpoint, fetched when first needed and fetched again when the member refuses it (401).

    http = EtcdHttp(session, user="gateway", password=...)
    async with http.post("https://etcd1:2379", "/v3/kv/range", {"key": "L2FwaXNpeA=="}, timeout) as resp:
        data = await resp.json()
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator

import aiohttp

from system.common.etcd import EtcdTls


class EtcdAuthFailed(Exception):
    """etcd refused the gateway's user and password."""


def tls_session(tls: EtcdTls | None) -> aiohttp.ClientSession:
    """A session for etcd: mutual TLS with the lab CA when `tls` is given, plaintext otherwise."""
    if tls is None:
        return aiohttp.ClientSession()
    ctx = ssl.create_default_context(cafile=tls.ca)
    ctx.load_cert_chain(tls.cert, tls.key)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx))


class EtcdHttp:
    def __init__(self, session: aiohttp.ClientSession, user: str = "", password: str = "") -> None:
        self.session = session
        self._user, self._password = user, password
        self._tokens: dict[str, str] = {}

    async def _headers(self, endpoint: str, timeout: aiohttp.ClientTimeout) -> dict[str, str]:
        if not self._user:
            return {}
        if endpoint not in self._tokens:
            # The connect timeout only: a watch's timeout has no total, an authentication must end.
            auth_timeout = aiohttp.ClientTimeout(total=timeout.total or timeout.connect or 3.0)
            async with self.session.post(f"{endpoint}/v3/auth/authenticate", timeout=auth_timeout,
                                         json={"name": self._user, "password": self._password}) as resp:
                data = await resp.json(content_type=None)
                if resp.status != 200 or "token" not in data:
                    raise EtcdAuthFailed(f"{endpoint}: authenticate answered {resp.status}: "
                                         f"{str(data.get('message', data))[:200]}")
                self._tokens[endpoint] = data["token"]
        return {"Authorization": self._tokens[endpoint]}

    @contextlib.asynccontextmanager
    async def post(self, endpoint: str, path: str, body: dict,
                   timeout: aiohttp.ClientTimeout) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST `body` to `endpoint + path`; once more with a fresh token if the member
        refused the one it had issued (restarted since, or expired)."""
        for attempt in (1, 2):
            resp = await self.session.post(endpoint + path, json=body, timeout=timeout,
                                           headers=await self._headers(endpoint, timeout))
            if resp.status == 401 and self._user and attempt == 1:
                self._tokens.pop(endpoint, None)
                resp.release()
                continue
            try:
                yield resp
            finally:
                resp.release()
            return

    async def close(self) -> None:
        await self.session.close()
