"""system/llm_stub: malformed input never gives a 5xx (hypothesis)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llm_stub_support import ADMIN, KEY

AUTH = {"Authorization": f"Bearer {KEY}"}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
message = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "robot", ""]),
                                 "content": json_values})
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"model": json_values, "messages": st.lists(message, max_size=3)},
                          optional={"stream": json_values, "max_tokens": json_values, "n": json_values,
                                    "stream_options": json_values, "temperature": json_values}))
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=bodies)
def test_chat_completions_never_5xx(client, body):
    r = client.post("/v1/chat/completions", content=json.dumps(body), headers=AUTH | {"content-type": "application/json"})
    assert r.status_code < 500, r.text


@FUZZ
@given(raw=st.binary(max_size=200))
def test_raw_bytes_never_5xx(client, raw):
    r = client.post("/v1/chat/completions", content=raw, headers=AUTH | {"content-type": "application/json"})
    assert r.status_code < 500


@FUZZ
@given(path=st.sampled_from(["/admin/faults", "/admin/latency", "/admin/api-key"]), body=json_values)
def test_admin_never_5xx(client, path, body):
    r = client.put(path, content=json.dumps(body), headers={"X-Admin-Token": ADMIN, "content-type": "application/json"})
    assert r.status_code < 500, r.text
    client.delete("/admin/faults", headers={"X-Admin-Token": ADMIN})
    client.put("/admin/latency", json={"zero": True}, headers={"X-Admin-Token": ADMIN})
