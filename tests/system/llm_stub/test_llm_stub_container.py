"""system/llm_stub in its container (the python image) on an internal network, with the key
provisioned as a file, as the topology does."""

from __future__ import annotations

import json

import httpx
import pytest
from llm_stub_support import ADMIN, KEY

pytestmark = pytest.mark.docker
KEY_PATH = "/run/halab/llm_api_key"


@pytest.fixture
def stub_container(docker_client, run_id):
    from harness.containers import InternalNetwork, PythonServiceContainer
    from harness.images import ImageNotBuilt, ensure_image

    try:
        image = ensure_image("llm_stub", client=docker_client, quick_only=True)
    except ImageNotBuilt as exc:
        pytest.skip(str(exc))
    with InternalNetwork(run_id, "llm") as net:
        c = (PythonServiceContainer(run_id, "llm_stub", image)
             .with_env("HALAB_LLM_STUB_API_KEY_FILE", KEY_PATH).with_env("HALAB_LLM_STUB_ADMIN_TOKEN", ADMIN)
             .with_env("HALAB_LLM_STUB_ZERO_LATENCY", "true").with_env("HALAB_LLM_STUB_LOG_LEVEL", "info")
             .on_network(net, "llm"))
        c.with_copy_into_container(KEY.encode(), KEY_PATH, mode=0o600)
        with c:
            yield c


def test_stub_in_its_container(stub_container):
    url = stub_container.url()
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "[source: d1#0] fact\nQ?"}]}
    assert httpx.post(url + "/v1/chat/completions", json=body, timeout=10).status_code == 401
    r = httpx.post(url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert r.status_code == 200 and "[d1#0]" in r.json()["choices"][0]["message"]["content"]
    with httpx.stream("POST", url + "/v1/chat/completions", json=body | {"stream": True},
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as s:
        lines = [ln for ln in s.iter_lines() if ln]
    assert lines[-1] == "data: [DONE]" and json.loads(lines[0][6:])["object"] == "chat.completion.chunk"
    r = httpx.put(url + "/admin/faults", json={"rate_limit_rate": 1, "retry_after_s": 4, "next_n": 1},
                  headers={"X-Admin-Token": ADMIN}, timeout=10)
    assert r.status_code == 200
    r = httpx.post(url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert r.status_code == 429 and r.headers["Retry-After"] == "4"
    assert KEY not in stub_container.logs() and ADMIN not in stub_container.logs()
