"""Benchmark: the policy update path, CMS and policy_sync as real processes (python -m) against
etcd, OPA and FerretDB containers. Prints figures and writes them to /tmp/issue3-figures.txt;
asserts nothing about time.

    python -m pytest -m benchmark -s tests/system/cms/test_cms_benchmark.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from cms_stack import IDENTITY_KEY, free_port

from system.common.identity import Asserted

pytestmark = [pytest.mark.docker, pytest.mark.benchmark]

UPDATES = 200
WAITED_UPDATES = 50
FIGURES = Path("/tmp/issue3-figures.txt")
REPO = Path(__file__).resolve().parents[3]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def start_service(module: str, env: dict[str, str], port: int, stack: ExitStack) -> str:
    proc = subprocess.Popen([sys.executable, "-m", module], cwd=REPO, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    stack.callback(stop)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/readyz", trust_env=False, timeout=1).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{module} did not become ready: {proc.stderr.read().decode()[-2000:] if proc.poll() is not None else 'timeout'}")
        time.sleep(0.1)


def test_policy_update_latency_and_propagation(docker_client, run_id):
    from harness.containers import EtcdContainer, FerretDBContainer, InternalNetwork, OpaContainer

    with ExitStack() as es:
        net = es.enter_context(InternalNetwork(run_id, "bench"))
        etcd = es.enter_context(EtcdContainer(run_id).on_network(net, "etcd"))
        opa = es.enter_context(OpaContainer(run_id).on_network(net, "opa"))
        mongo = es.enter_context(FerretDBContainer(run_id).on_network(net, "mongo"))
        endpoint = f"{etcd.address()}:2379"
        ps_port, cms_port = free_port(), free_port()
        psync_url = start_service("system.policy_sync", {
            "HALAB_POLICY_SYNC_HOST": "127.0.0.1", "HALAB_POLICY_SYNC_PORT": str(ps_port),
            "HALAB_POLICY_SYNC_ETCD_ENDPOINT": endpoint, "HALAB_POLICY_SYNC_OPA_URL": opa.api_url,
            "HALAB_POLICY_SYNC_LOG_LEVEL": "warning"}, ps_port, es)
        cms_url = start_service("system.cms", {
            "HALAB_CMS_HOST": "127.0.0.1", "HALAB_CMS_PORT": str(cms_port), "HALAB_CMS_ETCD_ENDPOINT": endpoint,
            "HALAB_CMS_MONGO_URL": mongo.mongo_url, "HALAB_CMS_OPA_URL": opa.api_url,
            "HALAB_CMS_POLICY_SYNC_URL": psync_url, "HALAB_CMS_LOG_LEVEL": "warning",
            "HALAB_CMS_IDENTITY_KEY": IDENTITY_KEY}, cms_port, es)

        cms = es.enter_context(httpx.Client(base_url=cms_url, auth=Asserted(IDENTITY_KEY, "bench"),
                                            trust_env=False, timeout=30))
        opa_client = es.enter_context(httpx.Client(base_url=opa.api_url, trust_env=False, timeout=5))

        def rego(i: int) -> str:
            return f"package halab.bench\n\ndefault allow := false\n\nvalue := {i}\n"

        def decision() -> object:
            return opa_client.get("/v1/data/halab/bench/value").json().get("result")

        for i in range(10):  # warm-up: connections, OPA's compiler, FerretDB's tables
            cms.put("/cms/policies/bench", json={"rego": rego(-1 - i)}, params={"wait": "enforced"}).raise_for_status()

        latency, propagation, polls, steps = [], [], [], {}
        for i in range(UPDATES):
            t0 = time.perf_counter()
            r = cms.put("/cms/policies/bench", json={"rego": rego(i)})
            t1 = time.perf_counter()
            assert r.status_code == 200, r.text
            for part in r.headers.get("Server-Timing", "").split(","):
                if ";dur=" in part:
                    name, dur = part.strip().split(";dur=")
                    steps.setdefault(name, []).append(float(dur) / 1000)
            n = 0
            while decision() != i:
                n += 1
                if time.perf_counter() - t1 > 10:
                    raise AssertionError(f"update {i} not enforced within 10 s")
            t2 = time.perf_counter()
            latency.append(t1 - t0)
            propagation.append(t2 - t1)
            polls.append(n)

        waited = []
        for i in range(WAITED_UPDATES):
            t0 = time.perf_counter()
            r = cms.put("/cms/policies/bench", json={"rego": rego(10_000 + i)}, params={"wait": "enforced"})
            waited.append(time.perf_counter() - t0)
            assert r.status_code == 200 and r.json()["enforced"] is True

        # the sidecar's share alone: an etcd put straight to the prefix -> changed OPA decision
        from system.common.etcd import connect

        etcd_client = connect(endpoint)
        es.callback(etcd_client.close)
        direct = []
        for i in range(UPDATES):
            t0 = time.perf_counter()
            etcd_client.put("/policies/benchraw", f"package halab.benchraw\n\nvalue := {i}\n")
            while opa_client.get("/v1/data/halab/benchraw/value").json().get("result") != i:
                if time.perf_counter() - t0 > 10:
                    raise AssertionError(f"direct put {i} not loaded within 10 s")
            direct.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        for _ in range(200):
            decision()
        poll_cost = (time.perf_counter() - t0) / 200

    ms = lambda v: f"{v * 1000:.2f} ms"
    lines = [
        f"halab issue 3 benchmark ({time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end: the figures move with the machine's load)",
        "setup: CMS and policy_sync as host processes (python -m), etcd 3.6 / OPA / FerretDB v1 (SQLite) "
        "containers on an internal Docker network; sequential updates of one policy",
        f"CMS update latency (answer without waiting), {UPDATES} updates: p50 {ms(pct(latency, 50))}, "
        f"p99 {ms(pct(latency, 99))}, max {ms(max(latency))}",
        f"propagation CMS answer -> changed OPA decision, {UPDATES} updates: p50 {ms(pct(propagation, 50))}, "
        f"p99 {ms(pct(propagation, 99))}, max {ms(max(propagation))} "
        f"(decision polled back to back; one poll costs {ms(poll_cost)}; "
        f"{sum(1 for n in polls if n == 0)} of {UPDATES} already changed at the first poll)",
        f"etcd put (direct, no CMS) -> changed OPA decision, {UPDATES} puts: p50 {ms(pct(direct, 50))}, "
        f"p99 {ms(pct(direct, 99))} (policy_sync's watch + OPA PUT + one decision poll)",
        "CMS update steps (Server-Timing), p50 / p99: " + "; ".join(
            f"{k} {ms(pct(v, 50))} / {ms(pct(v, 99))}" for k, v in steps.items()),
        f"CMS update latency with ?wait=enforced, {WAITED_UPDATES} updates: p50 {ms(pct(waited, 50))}, "
        f"p99 {ms(pct(waited, 99))}",
    ]
    text = "\n".join(lines) + "\n"
    FIGURES.write_text(text)
    print("\n" + text)
