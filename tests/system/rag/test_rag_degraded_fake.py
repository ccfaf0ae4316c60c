"""The query path when the LLM misbehaves, against fakes: the real hairpin client over
httpx's MockTransport (a fake gateway /llm/chat that answers, 429s, 503s, refuses or hangs),
the dict MongoDB and in-memory Qdrant of test_rag_fake, the breaker on a fake clock.

What the chaos catalogue's llm-storm asks of the architecture: a degraded answer (the
sources, no generated text) instead of a failure or a hang, a deadline on the LLM call,
and a circuit breaker that honours Retry-After.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from qdrant_client import AsyncQdrantClient
from test_rag_breaker_fake import FakeClock
from test_rag_fake import USERS, FakeStore, ingest

from system.common import identity
from system.rag.app import build_app
from system.rag.breaker import CircuitBreaker
from system.rag.deps import RagDeps
from system.rag.embedding import HashingEmbedder
from system.rag.generation import generate
from system.rag.llm import HairpinClient
from system.rag.query import DEGRADED_ANSWER
from system.rag.settings import RagSettings
from system.rag.vectors import VectorStore

DEADLINE_S = 0.3
FAILURES = 3
COOL_DOWN_S = 5.0
KEY = "rag-and-gateway-share-this"
ALICE = identity.headers(KEY.encode(), "alice", ttl_s=3600)


class FakeGateway:
    """Both DCs' gateway `/llm/chat` as MockTransport sees it: answers as `mode` says, records each call's host."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.retry_after = "12"
        self.calls: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.host)
        if self.mode == "ok":
            return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": "generated"}}]})
        if self.mode == "429":
            return httpx.Response(429, headers={"Retry-After": self.retry_after},
                                  json={"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}})
        if self.mode == "503":
            return httpx.Response(503, json={"message": "LLM credentials unavailable (secret store)"})
        if self.mode == "403":
            return httpx.Response(403, json={"message": "rag-service may not"})
        if self.mode == "connect":
            raise httpx.ConnectError("refused", request=request)
        if self.mode == "hang":
            await asyncio.sleep(60)
        raise AssertionError(f"unknown mode {self.mode}")


@pytest.fixture
def rag():
    settings = RagSettings(embed_dim=64, llm_deadline_s=DEADLINE_S, identity_key=KEY)
    clock, gateway = FakeClock(), FakeGateway()
    llm = HairpinClient(httpx.AsyncClient(transport=httpx.MockTransport(gateway)), ["http://gw1", "http://gw2"], "k")
    deps = RagDeps(settings=settings, store=FakeStore(USERS), vectors=VectorStore([AsyncQdrantClient(location=":memory:")], "c"),
                   embedder=HashingEmbedder(64), llm=llm,
                   breaker=CircuitBreaker(FAILURES, COOL_DOWN_S, clock=clock))
    with TestClient(build_app(settings, deps=deps)) as client:
        ingest(client, "eng-1", "The deploy pipeline uses blue green releases.", ["eng"])
        yield client, gateway, clock


def ask(client) -> dict:
    r = client.post("/query", json={"question": "how does the deploy pipeline work"}, headers=ALICE)
    assert r.status_code == 200, r.text
    return r.json()


def breaker(client) -> dict:
    r = client.get("/status")
    assert r.status_code == 200, r.text
    return r.json()["llm_breaker"]


def assert_degraded(body: dict, reason: str) -> None:
    assert body["degraded"]["reason"] == reason, body
    assert body["answer"] == DEGRADED_ANSWER
    assert [s["doc_id"] for s in body["sources"]] == ["eng-1"], "the retrieved context is still the answer"
    assert "llm_degraded" in body["timings_ms"] and "llm" not in body["timings_ms"] and "total" in body["timings_ms"]


def test_a_generated_answer_has_degraded_null_and_the_breaker_stays_closed(rag):
    client, gateway, _ = rag
    body = ask(client)
    assert body["answer"] == "generated" and body["degraded"] is None and body["gateway"] == "local"
    assert "llm" in body["timings_ms"]
    b = breaker(client)
    assert (b["state"], b["calls"], b["successes"], b["failures"]) == ("closed", 1, 1, 0)


def test_429_answers_degraded_with_retry_after_and_no_llm_call_until_it_passes(rag):
    client, gateway, clock = rag
    gateway.mode = "429"
    body = ask(client)
    assert_degraded(body, "llm-429")
    assert body["degraded"] == {"reason": "llm-429", "retry_after_s": 12.0, "circuit": "open"}
    assert gateway.calls == ["gw1"], "a 429 is final: the other DC's gateway is not asked"
    clock.advance(11.9)
    body = ask(client)
    assert_degraded(body, "circuit-open")
    assert body["degraded"]["retry_after_s"] == pytest.approx(0.1) and body["gateway"] == "none"
    assert gateway.calls == ["gw1"], "no LLM call before the Retry-After has passed"
    gateway.mode = "ok"
    clock.advance(0.1)
    body = ask(client)
    assert body["degraded"] is None and body["answer"] == "generated"
    assert gateway.calls == ["gw1", "gw1"]
    assert breaker(client)["state"] == "closed"


def test_a_retry_after_shorter_than_the_cool_down_keeps_the_cool_down(rag):
    client, gateway, clock = rag
    gateway.mode, gateway.retry_after = "429", "2"
    assert ask(client)["degraded"]["retry_after_s"] == COOL_DOWN_S
    clock.advance(2.0)
    assert ask(client)["degraded"]["reason"] == "circuit-open" and gateway.calls == ["gw1"]


def test_a_hang_answers_degraded_after_the_deadline(rag):
    client, gateway, _ = rag
    gateway.mode = "hang"
    t0 = time.monotonic()
    body = ask(client)
    took = time.monotonic() - t0
    assert_degraded(body, "llm-timeout")
    assert DEADLINE_S <= took < DEADLINE_S + 1.5, took
    assert body["timings_ms"]["llm_degraded"] >= DEADLINE_S * 1000
    assert body["degraded"] == {"reason": "llm-timeout", "retry_after_s": None, "circuit": "closed"}
    assert breaker(client)["consecutive_failures"] == 1


@pytest.mark.parametrize(("mode", "reason", "calls_each"), [("503", "llm-5xx", 2), ("connect", "llm-unreachable", 2),
                                                            ("hang", "llm-timeout", 1)])
def test_n_failures_open_the_circuit_then_answers_come_at_once_without_calling(rag, mode, reason, calls_each):
    client, gateway, _ = rag
    gateway.mode = mode
    bodies = [ask(client) for _ in range(FAILURES)]
    for body in bodies:
        assert_degraded(body, reason)
    assert [b["degraded"]["circuit"] for b in bodies] == ["closed"] * (FAILURES - 1) + ["open"]
    assert bodies[-1]["degraded"]["retry_after_s"] == COOL_DOWN_S
    assert len(gateway.calls) == FAILURES * calls_each  # both DCs' gateways, unless the deadline passed first
    t0 = time.monotonic()
    for _ in range(5):
        body = ask(client)
        assert_degraded(body, "circuit-open")
        assert body["degraded"]["circuit"] == "open"
    assert time.monotonic() - t0 < DEADLINE_S * 5, "an open circuit answers at once"
    assert len(gateway.calls) == FAILURES * calls_each, "an open circuit calls no LLM"
    b = breaker(client)
    assert (b["state"], b["opened"], b["rejected"], b["failures"], b["retry_after_s"]) == ("open", 1, 5, FAILURES, COOL_DOWN_S)


def test_recovery_after_the_cool_down_one_trial_a_failed_one_reopens(rag):
    client, gateway, clock = rag
    gateway.mode = "503"
    for _ in range(FAILURES):
        ask(client)
    clock.advance(COOL_DOWN_S)
    assert breaker(client)["state"] == "half-open"
    calls = len(gateway.calls)
    body = ask(client)  # the trial: still failing
    assert body["degraded"]["reason"] == "llm-5xx" and body["degraded"]["circuit"] == "open"
    assert len(gateway.calls) == calls + 2
    assert ask(client)["degraded"]["reason"] == "circuit-open" and len(gateway.calls) == calls + 2
    clock.advance(COOL_DOWN_S)
    gateway.mode = "ok"
    body = ask(client)  # the trial: healed
    assert body["degraded"] is None and body["answer"] == "generated"
    assert ask(client)["degraded"] is None
    b = breaker(client)
    assert (b["state"], b["consecutive_failures"], b["opened"]) == ("closed", 0, 2)


def test_a_refusal_is_still_503_and_leaves_the_breaker_alone(rag):
    client, gateway, _ = rag
    gateway.mode = "403"
    for _ in range(FAILURES + 1):
        r = client.post("/query", json={"question": "deploy"}, headers=ALICE)
        assert r.status_code == 503 and "LLM unavailable" in r.json()["detail"], r.text
    b = breaker(client)
    assert (b["state"], b["consecutive_failures"], b["failures"]) == ("closed", 0, 0)


def test_status_shows_the_breaker_and_an_open_breaker_is_still_ready(rag):
    client, gateway, _ = rag
    gateway.mode = "429"
    ask(client)
    r = client.get("/status").json()
    assert r["llm_deadline_s"] == DEADLINE_S
    assert r["llm_breaker"] == {"state": "open", "retry_after_s": 12.0, "consecutive_failures": 1,
                                "failure_threshold": FAILURES, "cool_down_s": COOL_DOWN_S, "trial_in_flight": False,
                                "calls": 1, "successes": 0, "failures": 1, "rejected": 0, "opened": 1}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True, "the DC still answers, degraded"


def test_openapi_documents_the_degraded_answer_and_the_status(rag):
    client, _, _ = rag
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    out = schemas["QueryOut"]
    assert "degraded" in out["required"] and {"$ref": "#/components/schemas/Degraded"} in out["properties"]["degraded"]["anyOf"]
    assert DEGRADED_ANSWER in out["properties"]["answer"]["description"]
    reasons = schemas["Degraded"]["properties"]["reason"]["enum"]
    assert set(reasons) == {"llm-429", "llm-5xx", "llm-timeout", "llm-unreachable", "circuit-open"}
    assert set(schemas["Degraded"]["properties"]["circuit"]["enum"]) == {"closed", "open", "half-open"}
    status = spec["paths"]["/status"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert status == {"$ref": "#/components/schemas/StatusOut"}
    assert "state" in schemas["BreakerStatus"]["properties"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_cancelled_trial_frees_the_slot_for_the_next_call(anyio_backend):
    clock = FakeClock()
    b = CircuitBreaker(1, COOL_DOWN_S, clock=clock)
    b.failure(b.acquire())
    clock.advance(COOL_DOWN_S)
    started = asyncio.Event()

    class Hanging:
        async def chat(self, messages, request_id=None):
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(generate(Hanging(), b, [], deadline_s=30))
    await started.wait()
    assert b.status().trial_in_flight
    assert (await generate(Hanging(), b, [], deadline_s=30)).reason == "circuit-open", "one trial at a time"
    task.cancel()  # the user went away
    with pytest.raises(asyncio.CancelledError):
        await task
    assert b.state == "half-open" and not b.status().trial_in_flight
