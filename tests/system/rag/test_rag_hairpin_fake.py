"""The hairpin client against httpx's MockTransport: local gateway first, the other DC's on trouble."""

from __future__ import annotations

import httpx
import pytest

from system.rag.llm import HairpinClient, LlmUnavailable

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def completion(text: str) -> dict:
    return {"choices": [{"message": {"role": "assistant", "content": text}}]}


def make(handler) -> HairpinClient:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HairpinClient(client, ["http://gw1", "http://gw2"], api_key="k", model="m")


async def test_local_gateway_first_with_key_model_and_request_id():
    seen = []

    def handler(request: httpx.Request):
        seen.append(request)
        return httpx.Response(200, json=completion("from " + request.url.host))

    text, which = await make(handler).chat([{"role": "user", "content": "q"}], request_id="r1")
    assert (text, which) == ("from gw1", "local")
    assert seen[0].headers["apikey"] == "k" and seen[0].headers["X-Request-Id"] == "r1"
    assert seen[0].url.path == "/llm/chat" and b'"model":"m"' in seen[0].content.replace(b" ", b"")


@pytest.mark.parametrize("trouble", ["connect", "timeout", 502, 503, 504])
async def test_other_dcs_gateway_on_trouble(trouble):
    def handler(request: httpx.Request):
        if request.url.host == "gw1":
            if trouble == "connect":
                raise httpx.ConnectError("refused", request=request)
            if trouble == "timeout":
                raise httpx.ReadTimeout("slow", request=request)
            return httpx.Response(trouble, json={"message": "upstream trouble"})
        return httpx.Response(200, json=completion("ok"))

    assert await make(handler).chat([{"role": "user", "content": "q"}]) == ("ok", "remote")


async def test_a_refusal_is_final_and_both_down_is_unavailable():
    calls = []

    def deny(request: httpx.Request):
        calls.append(request.url.host)
        return httpx.Response(403, json={"message": "rag-service may not"})

    with pytest.raises(LlmUnavailable) as exc:
        await make(deny).chat([{"role": "user", "content": "q"}])
    assert exc.value.status == 403 and calls == ["gw1"]

    def down(request: httpx.Request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(LlmUnavailable):
        await make(down).chat([{"role": "user", "content": "q"}])


async def test_a_429_is_final_with_its_retry_after():
    calls = []

    def limited(request: httpx.Request):
        calls.append(request.url.host)
        return httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "slow down"}})

    with pytest.raises(LlmUnavailable) as exc:
        await make(limited).chat([{"role": "user", "content": "q"}])
    e = exc.value
    assert (e.status, e.reason, e.retry_after_s, e.gateway, e.outage) == (429, "llm-429", 7.0, "local", True)
    assert calls == ["gw1"], "the other DC's gateway spends the same API key's quota"


@pytest.mark.parametrize(("trouble", "reason", "status"), [
    ("connect", "llm-unreachable", None), ("connect-timeout", "llm-unreachable", None),
    ("read-timeout", "llm-timeout", None), (503, "llm-5xx", 503)])
async def test_both_gateways_failing_says_how_the_last_one_failed(trouble, reason, status):
    def handler(request: httpx.Request):
        if trouble == "connect":
            raise httpx.ConnectError("refused", request=request)
        if trouble == "connect-timeout":
            raise httpx.ConnectTimeout("no SYN-ACK", request=request)
        if trouble == "read-timeout":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(trouble, json={"message": "LLM credentials unavailable"})

    with pytest.raises(LlmUnavailable) as exc:
        await make(handler).chat([{"role": "user", "content": "q"}])
    assert (exc.value.reason, exc.value.status, exc.value.outage) == (reason, status, True)


@pytest.mark.parametrize(("response", "reason"), [
    (httpx.Response(403, json={"message": "rag-service may not"}), "llm-refused"),
    (httpx.Response(200, json={"choices": []}), "llm-invalid")])
async def test_a_refusal_or_a_non_completion_is_no_outage(response, reason):
    with pytest.raises(LlmUnavailable) as exc:
        await make(lambda request: response).chat([{"role": "user", "content": "q"}])
    assert exc.value.reason == reason and not exc.value.outage


def test_retry_after_in_seconds_or_as_a_date_capped_and_garbled_ignored():
    from datetime import UTC, datetime

    from system.rag.llm import MAX_RETRY_AFTER_S, retry_after

    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after("2", now) == 2.0 and retry_after(" 1.5 ", now) == 1.5
    assert retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30.0
    assert retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0  # in the past: at once
    assert retry_after("99999999", now) == MAX_RETRY_AFTER_S
    assert retry_after("-3", now) == 0.0
    assert [retry_after(v, now) for v in (None, "", "soon", "nan", "inf")] == [None, None, None, None, None]
