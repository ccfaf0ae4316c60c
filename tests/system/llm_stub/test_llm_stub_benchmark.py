"""system/llm_stub figures (prints only): the stub's own cost at zero latency, and how well
the measured time to first token follows the drawn one.

Run: pytest -m benchmark tests/system/llm_stub -s
"""

from __future__ import annotations

import time

import httpx
import pytest
from llm_stub_support import KEY

pytestmark = pytest.mark.benchmark
REQUESTS = 300
BODY = {"model": "m", "messages": [{"role": "user", "content": "[source: d#0] text\nQuestion?"}]}
AUTH = {"Authorization": f"Bearer {KEY}"}


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] * 1000


def test_stub_cost_and_ttft_fidelity(stub_process):
    fast = stub_process(HALAB_LLM_STUB_ZERO_LATENCY="true")
    lat, stream_lat = [], []
    with httpx.Client(base_url=fast.url, headers=AUTH) as c:
        for _ in range(REQUESTS):
            t = time.perf_counter()
            c.post("/v1/chat/completions", json=BODY)
            lat.append(time.perf_counter() - t)
        for _ in range(REQUESTS):
            t = time.perf_counter()
            c.post("/v1/chat/completions", json=BODY | {"stream": True}).read()
            stream_lat.append(time.perf_counter() - t)
    slow = stub_process(HALAB_LLM_STUB_TTFT_MS="100", HALAB_LLM_STUB_TOKENS_PER_S="1000", HALAB_LLM_STUB_SEED="3")
    errors = []
    with httpx.Client(base_url=slow.url, headers=AUTH, timeout=10) as c:
        for _ in range(40):
            t = time.perf_counter()
            with c.stream("POST", "/v1/chat/completions", json=BODY | {"stream": True}) as r:
                drawn = float(r.headers["X-Stub-TTFT-Ms"])
                for line in r.iter_lines():
                    if '"content":"' in line and '"content":""' not in line:
                        errors.append((time.perf_counter() - t) * 1000 - drawn)
                        break
    print(f"\nllm_stub at zero latency, sequential over loopback: completion p50 {pct(lat, .5):.2f} ms "
          f"p99 {pct(lat, .99):.2f} ms; streamed p50 {pct(stream_lat, .5):.2f} ms p99 {pct(stream_lat, .99):.2f} ms")
    errors.sort()
    print(f"llm_stub TTFT (median 100 ms, sigma 0.25): measured minus drawn p50 {errors[len(errors) // 2]:.1f} ms, "
          f"max {errors[-1]:.1f} ms over {len(errors)} streams")
