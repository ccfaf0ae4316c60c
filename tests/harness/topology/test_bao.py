"""harness.topology.bao's waits against a fake OpenBao (httpx.MockTransport): each keeps its
own error and message, and retries only what it always retried."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import httpx
import pytest

from harness.topology.bao import BaoCluster, BaoError


def cluster(handler) -> BaoCluster:
    c = BaoCluster([])
    c._http = httpx.Client(transport=httpx.MockTransport(handler))
    return c


def test_wait_returns_the_code_it_waited_for() -> None:
    codes = iter([None, 501, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        code = next(codes)
        if code is None:
            raise httpx.ConnectError("refused")
        return httpx.Response(code)

    assert cluster(handler).wait("http://bao1:8200", {200}, 5, "active") == 200


def test_wait_names_the_last_health_code() -> None:
    c = cluster(lambda request: httpx.Response(503))
    with pytest.raises(BaoError, match=r"OpenBao at http://bao1:8200 never got active \(last /v1/sys/health: 503\)"):
        c.wait("http://bao1:8200", {200}, 0.15, "active")


def test_a_join_is_retried_until_joined_then_the_joiner_unsealed() -> None:
    joins, unseals = itertools.count(), itertools.count()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/sys/health":
            return httpx.Response(501)
        if request.url.path == "/v1/sys/storage/raft/join":
            return httpx.Response(200, json={"joined": next(joins) >= 1})
        return httpx.Response(200 if next(unseals) >= 1 else 400, text="not joined yet")

    c = cluster(handler)
    leader = type("P", (), {"url": lambda self, role: "http://vault1:8200"})()
    c.members = [(leader, "http://bao1:8200"), (SimpleNamespace(name="vault2"), "http://bao2:8200")]
    c.join_all("key", deadline_s=5)
    assert (next(joins), next(unseals)) == (2, 2)


def test_a_join_that_never_takes_says_how_it_was_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/sys/health":
            return httpx.Response(503)
        return httpx.Response(500, text="no leader")

    c = cluster(handler)
    leader = type("P", (), {"url": lambda self, role: "http://vault1:8200"})()
    c.members = [(leader, "http://bao1:8200"), (SimpleNamespace(name="vault2"), "http://bao2:8200")]
    with pytest.raises(BaoError, match=r"^raft join at http://bao2:8200 failed with 500: no leader$"):
        c.join_all("key", deadline_s=0.1)


def test_an_unseal_that_never_takes_raises_its_last_refusal() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/sys/health":
            return httpx.Response(503)
        if request.url.path == "/v1/sys/storage/raft/join":
            return httpx.Response(200, json={"joined": True})
        return httpx.Response(400, text="sealed")

    c = cluster(handler)
    leader = type("P", (), {"url": lambda self, role: "http://vault1:8200"})()
    c.members = [(leader, "http://bao1:8200"), (SimpleNamespace(name="vault2"), "http://bao2:8200")]
    with pytest.raises(BaoError, match=r"^unseal at http://bao2:8200 failed with 400: sealed$"):
        c.join_all("key", deadline_s=0.1)


def test_a_joiner_presents_its_own_certificate_to_the_leader() -> None:
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/sys/health":
            return httpx.Response(501)
        if request.url.path == "/v1/sys/storage/raft/join":
            bodies.append(json.loads(request.content))
            return httpx.Response(200, json={"joined": True})
        return httpx.Response(200)

    c = cluster(handler)
    c.ca_pem, c._identities = b"CA", {"vault2": (b"CERT", b"KEY")}
    leader = type("P", (), {"url": lambda self, role: "https://vault1:8200"})()
    c.members = [(leader, "https://bao1:8200"), (SimpleNamespace(name="vault2"), "https://bao2:8200")]
    c.join_all("key", deadline_s=5)
    assert bodies == [{"leader_api_addr": "https://vault1:8200", "leader_ca_cert": "CA",
                       "leader_client_cert": "CERT", "leader_client_key": "KEY"}]
