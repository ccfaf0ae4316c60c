"""Benchmark: what TLS costs the seed lab (issue 28, stage 4). Prints figures, asserts none.

    pytest -s -m benchmark tests/harness/topology/test_tls_cost_benchmark.py

`halab up` time; query and policy update latency through the VIP (one client, one request at a
time, keep-alive as Locust's users have it); and the cost of a connection across the 10 ms WAN
link: the host dials gateway2 through DC1's WAN listener, as DC1's HAProxy does, with a new
TCP connection, a new TLS connection (handshake, mutual), a request on a new connection (what
`option http-server-close` pays per request) and a request on a kept one.

It reads the lab through the state file and the CA alone, so the same file runs on a commit
from before the request path was TLS: that is the "without TLS" column (the issue's note).
"""

from __future__ import annotations

import os
import socket
import ssl
import statistics
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.benchmark, pytest.mark.docker, pytest.mark.slow]

FIGURES = Path("/tmp/issue28-tls-cost.txt")
QUERIES, UPDATES, DIALS = 200, 60, 60


def _quantiles(xs: list[float]) -> str:
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return f"p50 {1000 * q[49]:7.1f} ms  p99 {1000 * q[98]:7.1f} ms  (n={len(xs)})"


def _context(state) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=state.ca_file)
    client = getattr(state, "client_cert", None)  # mutual TLS: the harness's certificate
    if client:
        ctx.load_cert_chain(client)
    return ctx


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _wan_dials(lab) -> dict[str, list[float]]:
    from chaos import network

    state = lab.state
    route = next(r for r in lab.routes if r.client_site == "dc1" and r.server == "gateway2")
    host, port = network.listen_ips(lab)["dc1"], route.port
    name = state.components["gateway2"]["container"]
    tls = state.vip_url.startswith("https")
    ctx = _context(state) if tls else None
    request = f"GET /healthz HTTP/1.1\r\nHost: {name}\r\n\r\n".encode()

    def tcp() -> socket.socket:
        return socket.create_connection((host, port), timeout=5)

    def connect() -> socket.socket:
        sock = tcp()
        return ctx.wrap_socket(sock, server_hostname=name) if tls else sock

    def ask(sock: socket.socket) -> None:
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")

    def fresh() -> None:
        with connect() as s:
            ask(s)

    kept = connect()
    try:
        return {"tcp connect": _timed(lambda: tcp().close(), DIALS),
                "tcp+tls connect" if tls else "tcp connect (no tls)": _timed(lambda: connect().close(), DIALS),
                "request, new connection": _timed(fresh, DIALS),
                "request, kept connection": _timed(lambda: ask(kept), DIALS)}
    finally:
        kept.close()


def test_tls_cost_figures(docker_client, images_built, tmp_path) -> None:
    from harness.spec import preset
    from harness.topology.realise import down, up

    run_id = f"pytest-topo-tlscost-{os.getpid()}"
    t0 = time.monotonic()
    try:
        lab = up(preset("seed"), run_id=run_id, state_file=tmp_path / "topology.json", client=docker_client)
        up_s = time.monotonic() - t0
        state, keys = lab.state, lab.consumers
        verify = _context(state) if state.vip_url.startswith("https") else False
        with httpx.Client(base_url=state.vip_url, verify=verify, timeout=30, trust_env=False) as vip:
            def query() -> None:
                r = vip.post("/rag/query", headers={"apikey": keys["alice"]}, json={"question": "What does the gateway do?"})
                assert r.status_code == 200, r.text

            counter = iter(range(10**6))

            def update() -> None:
                k = next(counter)
                r = vip.put("/cms/policies/tlscost-0", headers={"apikey": keys["admin"]},
                            json={"rego": f"package halab.tlscost0\n\nupdates := {k}\n", "description": "tls cost"})
                assert r.status_code in (200, 201, 202), r.text

            query(), update()  # warm: the first of each pays for connections and caches
            queries, updates = _timed(query, QUERIES), _timed(update, UPDATES)
        dials = _wan_dials(lab)
    finally:
        down(run_id, client=docker_client)
    lines = [f"TLS cost on seed ({'TLS' if state.vip_url.startswith('https') else 'plaintext'} lab), {time.strftime('%Y-%m-%d %H:%M')}",
             f"  halab up             {up_s:6.1f} s",
             f"  rag_query (VIP)      {_quantiles(queries)}",
             f"  policy_update (VIP)  {_quantiles(updates)}"]
    lines += [f"  WAN dc1->gateway2: {what:26s} {_quantiles(xs)}" for what, xs in dials.items()]
    text = "\n".join(lines)
    print("\n" + text)
    with FIGURES.open("a") as f:
        f.write(text + "\n")
