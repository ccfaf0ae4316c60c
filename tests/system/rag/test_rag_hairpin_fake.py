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
