"""Service identity: the gateway's word for who is calling, signed.

The gateway's key-auth sets X-Consumer-Username, -Groups and -Role (and strips them from
what the client sent). A service behind it believes them only when X-Consumer-Assertion
holds an HMAC-SHA256 of exactly those values and an expiry, made with the key that the
gateway and the services share (a secret file, like the AppRole credentials). A caller
inside a DC network can set the headers, but cannot make the assertion, so it cannot
claim a user. A service without a key believes no one.

What this does not stop: someone who reads a gateway → service request off the DC network
can replay it until it expires (TTL_S). TLS on that hop closes it.

    >>> key = b"k" * 32
    >>> a = assertion(key, "alice", "eng", "user", now=100.0)
    >>> verify(key, a, "alice", "eng", "user", now=110.0)
    >>> verify(key, a, "mallory", "eng", "user", now=110.0)
    Traceback (most recent call last):
    ...
    system.common.identity.IdentityError: X-Consumer-Assertion does not match the identity headers
    >>> verify(key, a, "alice", "eng", "user", now=200.0)
    Traceback (most recent call last):
    ...
    system.common.identity.IdentityError: X-Consumer-Assertion expired
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

HEADER = "X-Consumer-Assertion"
USERNAME, GROUPS, ROLE = "X-Consumer-Username", "X-Consumer-Groups", "X-Consumer-Role"
TTL_S = 30  # the gateway mints one per request; services share the host's clock in the lab


class IdentityError(Exception):
    pass


def _mac(key: bytes, expires: int, username: str, groups: str, role: str) -> str:
    return hmac.new(key, f"{expires}\n{username}\n{groups}\n{role}".encode(), hashlib.sha256).hexdigest()


def assertion(key: bytes, username: str, groups: str = "", role: str = "", *, now: float | None = None,
              ttl_s: float = TTL_S) -> str:
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{expires}.{_mac(key, expires, username, groups, role)}"


def verify(key: bytes, value: str | None, username: str, groups: str = "", role: str = "", *,
           now: float | None = None) -> None:
    if not key:
        raise IdentityError("this service has no identity key: it believes no identity header")
    if not value:
        raise IdentityError(f"no {HEADER}: identity headers count only from the gateway")
    expires, _, mac = value.partition(".")
    if not expires.isdigit():
        raise IdentityError(f"{HEADER} is malformed")
    if not hmac.compare_digest(mac, _mac(key, int(expires), username, groups, role)):
        raise IdentityError(f"{HEADER} does not match the identity headers")
    if int(expires) < (time.time() if now is None else now):
        raise IdentityError(f"{HEADER} expired")


def headers(key: bytes, username: str, groups: str = "", role: str = "", *, ttl_s: float = TTL_S) -> dict[str, str]:
    """What the gateway adds upstream (and what a trusted caller, the harness seeding the CMS, sends;
    a fuzzer that sends one set of headers for minutes asks for a longer `ttl_s`)."""
    return {USERNAME: username, GROUPS: groups, ROLE: role, HEADER: assertion(key, username, groups, role, ttl_s=ttl_s)}


class Asserted(httpx.Auth):
    """httpx auth for a trusted caller that speaks to a service directly (the harness seeding
    the CMS, a test): a fresh assertion on every request."""

    def __init__(self, key: bytes | str, username: str, groups: str = "", role: str = "") -> None:
        self.key = key.encode() if isinstance(key, str) else key
        self.username, self.groups, self.role = username, groups, role

    def auth_flow(self, request):
        request.headers.update(headers(self.key, self.username, self.groups, self.role))
        yield request
