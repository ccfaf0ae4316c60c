"""system/llm_stub: auth, key rotation with grace, OpenAI shapes, streaming, faults, determinism."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from llm_stub_support import ADMIN, KEY

from system.llm_stub.answer import answer_for, source_ids
from system.llm_stub.keys import KeyRing

AUTH = {"Authorization": f"Bearer {KEY}"}
ADMIN_H = {"X-Admin-Token": ADMIN}
CONTEXT = ("Context:\n[source: doc-7#0] The vault holds the key.\n[source: doc-3#2] Keys rotate daily.\n"
           "Question: who holds the key?")
BODY = {"model": "halab-stub-1", "messages": [{"role": "system", "content": "Answer from the context."},
                                              {"role": "user", "content": CONTEXT}]}


def sse_events(text: str) -> list:
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        data = block[len("data: "):]
        events.append(data if data == "[DONE]" else json.loads(data))
    return events


# --- auth -----------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": KEY},
                                     {"Authorization": f"Basic {KEY}"}, {"Authorization": "Bearer "}])
def test_only_the_provisioned_key_is_accepted(client, headers):
    r = client.post("/v1/chat/completions", json=BODY, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/models", headers=headers).status_code == 401
    assert client.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code == 200


def test_unprovisioned_stub_refuses_everything_and_is_not_ready(make_client):
    c = make_client(api_key=None)
    assert c.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code == 401
    assert c.get("/readyz").status_code == 503
    assert c.put("/admin/api-key", json={"key": KEY}, headers=ADMIN_H).status_code == 200
    assert c.get("/readyz").status_code == 200
    assert c.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code == 200


def test_admin_endpoints_need_the_admin_token(make_client):
    c = make_client()
    assert c.get("/admin/stats").status_code == 401
    assert c.get("/admin/stats", headers={"X-Admin-Token": "wrong"}).status_code == 401
    assert c.get("/admin/stats", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
    # The API key is not an admin token.
    assert c.put("/admin/api-key", json={"key": "x"}, headers=AUTH).status_code == 401
    disabled = make_client(admin_token=None)
    assert disabled.put("/admin/api-key", json={"key": "x"}, headers={"X-Admin-Token": ""}).status_code == 403


def test_key_status_never_shows_a_key(client):
    client.put("/admin/api-key", json={"key": "sk-new-secret"}, headers=ADMIN_H)
    text = client.get("/admin/api-key", headers=ADMIN_H).text
    assert KEY not in text and "sk-new-secret" not in text


# --- rotation -------------------------------------------------------------------------------

def test_key_ring_grace_with_a_fake_clock():
    now = [100.0]
    ring = KeyRing("k1", grace_s=10, clock=lambda: now[0])
    ring.rotate("k2")
    assert ring.check("k1") == "previous" and ring.check("k2") == "current"
    now[0] += 9.9
    assert ring.check("k1") == "previous"
    now[0] += 0.2
    assert ring.check("k1") is None and ring.check("k2") == "current"
    ring.rotate("k3", grace_s=0)
    assert ring.check("k2") is None and ring.generation == 3


def test_rotation_keeps_the_old_key_for_the_grace_period(client):
    r = client.put("/admin/api-key", json={"key": "sk-rotated", "grace_s": 0.5}, headers=ADMIN_H)
    assert r.json()["previous_keys_in_grace"] == 1
    new = {"Authorization": "Bearer sk-rotated"}
    old = client.post("/v1/chat/completions", json=BODY, headers=AUTH)
    assert old.status_code == 200 and old.headers["X-Stub-Key"] == "previous"
    assert client.post("/v1/chat/completions", json=BODY, headers=new).headers["X-Stub-Key"] == "current"
    time.sleep(0.6)
    assert client.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code == 401
    assert client.post("/v1/chat/completions", json=BODY, headers=new).status_code == 200
    stats = client.get("/admin/stats", headers=ADMIN_H).json()
    assert stats["accepted_previous_key"] == 1 and stats["rejected_auth"] == 1


def test_key_file_change_is_a_rotation(make_client, tmp_path):
    key_file = tmp_path / "llm_key"
    key_file.write_text(KEY + "\n")
    c = make_client(api_key=None, api_key_file=str(key_file), key_grace_s=30)
    assert c.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code == 200
    key_file.write_text("sk-from-file-2\n")
    time.sleep(0.6)  # the file is polled at most every 0.5 s
    assert c.post("/v1/chat/completions", json=BODY,
                  headers={"Authorization": "Bearer sk-from-file-2"}).status_code == 200
    assert c.post("/v1/chat/completions", json=BODY, headers=AUTH).headers["X-Stub-Key"] == "previous"


# --- OpenAI shapes and the answer ---------------------------------------------------------------

def test_completion_quotes_the_context_source_ids(client):
    r = client.post("/v1/chat/completions", json=BODY, headers=AUTH)
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "halab-stub-1"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    assert "[doc-7#0]" in choice["message"]["content"] and "[doc-3#2]" in choice["message"]["content"]
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert r.headers["X-Request-Id"]


def test_models_list(client):
    data = client.get("/v1/models", headers=AUTH).json()
    assert data["object"] == "list" and {m["id"] for m in data["data"]} >= {"halab-stub-1"}


def test_source_id_forms():
    text = '[source: a#1] [source=b] [doc_id: c] <source id="d">\nsource: e\n[source: a#1]'
    assert source_ids(text) == ["a#1", "b", "c", "d", "e"]
    assert "No sources" in answer_for([{"role": "user", "content": "hello"}])
    # The RAG system prompt names the tag format with a placeholder; that is not a source.
    assert source_ids("Cite the sources by their [source: ...] tags.\n[source: doc-1#0] x") == ["doc-1#0"]


def test_content_parts_are_read(client):
    body = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "[source: part-1] fact"}, {"type": "image_url", "image_url": {"url": "x"}}]}]}
    assert "[part-1]" in client.post("/v1/chat/completions", json=body, headers=AUTH).json()["choices"][0]["message"]["content"]


def test_max_tokens_truncates_with_finish_reason_length(client):
    r = client.post("/v1/chat/completions", json=BODY | {"max_tokens": 3}, headers=AUTH).json()
    assert r["choices"][0]["finish_reason"] == "length" and r["usage"]["completion_tokens"] == 3


def test_streaming_is_sse_chunks_ending_with_done(client):
    full = client.post("/v1/chat/completions", json=BODY, headers=AUTH).json()["choices"][0]["message"]["content"]
    r = client.post("/v1/chat/completions", json=BODY | {"stream": True, "stream_options": {"include_usage": True}},
                    headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == full
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finals] == ["stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


# --- faults ---------------------------------------------------------------------------------

def test_error_rate_one_fails_every_call_until_healed(client):
    client.put("/admin/faults", json={"error_rate": 1.0, "error_status": 503}, headers=ADMIN_H)
    assert [client.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code for _ in range(3)] == [503] * 3
    client.delete("/admin/faults", headers=ADMIN_H)
    assert client.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code == 200
    assert client.get("/admin/faults", headers=ADMIN_H).json()["injected"]["error"] == 3


def test_rate_limit_has_retry_after_and_next_n_limits_it(client):
    client.put("/admin/faults", json={"rate_limit_rate": 1.0, "retry_after_s": 7, "next_n": 2}, headers=ADMIN_H)
    first = client.post("/v1/chat/completions", json=BODY, headers=AUTH)
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    assert first.json()["error"]["type"] == "rate_limit_error"
    assert client.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code == 429
    assert client.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code == 200


def test_unauthorised_calls_draw_no_fault(client):
    client.put("/admin/faults", json={"error_rate": 1.0, "next_n": 1}, headers=ADMIN_H)
    assert client.post("/v1/chat/completions", json=BODY).status_code == 401
    assert client.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code == 500


def test_seeded_error_rate_is_reproducible(make_client):
    def outcomes(seed):
        c = make_client(seed=seed)
        c.put("/admin/faults", json={"error_rate": 0.3, "rate_limit_rate": 0.2}, headers=ADMIN_H)
        return [c.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code for _ in range(40)]

    a, b, other = outcomes(5), outcomes(5), outcomes(6)
    assert a == b and a != other
    assert {200, 500, 429} == set(a)


def test_hang_outlasts_the_client_timeout(stub_process):
    stub = stub_process(HALAB_LLM_STUB_ZERO_LATENCY="true")
    httpx.put(stub.url + "/admin/faults", json={"hang_rate": 1.0, "hang_s": 30, "next_n": 1}, headers=ADMIN_H)
    t0 = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(stub.url + "/v1/chat/completions", json=BODY, headers=AUTH, timeout=0.5)
    assert time.monotonic() - t0 >= 0.5
    # The next call is served: a hang holds one request, not the server.
    assert httpx.post(stub.url + "/v1/chat/completions", json=BODY, headers=AUTH, timeout=5).status_code == 200


def test_stall_stops_a_stream_after_some_tokens(stub_process):
    stub = stub_process(HALAB_LLM_STUB_ZERO_LATENCY="true")
    httpx.put(stub.url + "/admin/faults", json={"stall_rate": 1.0, "stall_after_tokens": 2, "hang_s": 30, "next_n": 1},
              headers=ADMIN_H)
    got = []
    with pytest.raises(httpx.ReadTimeout):
        with httpx.stream("POST", stub.url + "/v1/chat/completions", json=BODY | {"stream": True}, headers=AUTH,
                          timeout=httpx.Timeout(5, read=0.5)) as r:
            assert r.status_code == 200  # the headers came: the failure is mid-stream
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    got.append(json.loads(line[6:]))
    contents = [c["choices"][0]["delta"].get("content") for c in got]
    assert len([x for x in contents if x]) == 2  # the role chunk, then two tokens, then silence
    assert httpx.post(stub.url + "/v1/chat/completions", json=BODY | {"stream": True}, headers=AUTH,
                      timeout=5).text.endswith("data: [DONE]\n\n")


# --- latency and determinism -----------------------------------------------------------------

def test_same_seed_same_latencies_and_answers(make_client):
    def run(seed):
        c = make_client(seed=seed, zero_latency=False, ttft_ms=0.001, tokens_per_s=1e6)
        rs = [c.post("/v1/chat/completions", json=BODY, headers=AUTH) for _ in range(5)]
        return [r.headers["X-Stub-TTFT-Ms"] for r in rs], [r.json()["choices"][0]["message"]["content"] for r in rs]

    (lat_a, ans_a), (lat_b, ans_b), (lat_c, ans_c) = run(11), run(11), run(12)
    assert lat_a == lat_b and lat_a != lat_c
    assert ans_a == ans_b == ans_c and len(set(ans_a)) == 1


def test_streaming_paces_first_token_and_tokens(stub_process):
    stub = stub_process(HALAB_LLM_STUB_TTFT_MS="300", HALAB_LLM_STUB_TTFT_SIGMA="0",
                        HALAB_LLM_STUB_TOKENS_PER_S="100")
    t0 = time.monotonic()
    arrivals = []
    with httpx.stream("POST", stub.url + "/v1/chat/completions", json=BODY | {"stream": True},
                      headers=AUTH, timeout=10) as r:
        assert float(r.headers["X-Stub-TTFT-Ms"]) == pytest.approx(300)
        for line in r.iter_lines():
            if line.startswith("data: {") and '"content":"' in line and '"content":""' not in line:
                arrivals.append(time.monotonic() - t0)
    ttft, total = arrivals[0], arrivals[-1]
    print(f"stub TTFT {ttft * 1000:.0f} ms (model 300), {len(arrivals)} tokens by {total * 1000:.0f} ms")
    assert 0.28 <= ttft < 1.5
    assert total - ttft >= (len(arrivals) - 1) * 0.01 * 0.9


def test_latency_can_be_zeroed_at_runtime(make_client):
    c = make_client(zero_latency=False, ttft_ms=2000)
    c.put("/admin/latency", json={"zero": True}, headers=ADMIN_H)
    t0 = time.monotonic()
    assert c.post("/v1/chat/completions", json=BODY, headers=AUTH).status_code == 200
    assert time.monotonic() - t0 < 1.0


def test_key_never_reaches_the_log(stub_process):
    stub = stub_process(HALAB_LLM_STUB_LOG_LEVEL="debug")
    httpx.post(stub.url + "/v1/chat/completions", json=BODY, headers=AUTH)
    httpx.post(stub.url + "/v1/chat/completions", json=BODY, headers={"Authorization": "Bearer sk-wrong-attempt"})
    httpx.put(stub.url + "/admin/api-key", json={"key": "sk-rotated-secret"}, headers=ADMIN_H)
    httpx.put(stub.url + "/admin/api-key", json={"key": 5}, headers=ADMIN_H)
    stub.stop_log = stub.output()
    for secret in (KEY, "sk-rotated-secret", "sk-wrong-attempt", ADMIN):
        assert secret not in stub.stop_log
