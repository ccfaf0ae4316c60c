"""The gateway's Server-Timing header, end to end: a gateway process on real etcd and OPA
containers in front of small HTTP upstreams that take a known time to answer."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from harness.containers import EtcdContainer, InternalNetwork, OpaContainer
from harness.process import ServiceProcess
from system.gateway.seed import ConsumerSpec, seed, service_route

pytestmark = [pytest.mark.docker]

DELAY_S = 0.05  # every upstream answer takes at least this long
READ_TIMEOUT_S = 0.3
UPSTREAM_TIMING = "mongo_read;dur=1.25, opa_compile;dur=0.40"
POLICY = """package halab.authz

default allow := false

allow if input.consumer.username == "alice"
"""
ENTRY = re.compile(r"^([A-Za-z0-9_]+);dur=(\d+\.\d{2})$")


def upstream(hang_s: float = 0.0) -> ThreadingHTTPServer:
    """`/timed` answers with its own Server-Timing, `/stream` is an event stream, anything else
    plain JSON; each after DELAY_S (plus `hang_s`, to play a node that times out)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            time.sleep(DELAY_S + hang_s)
            try:
                if self.path == "/stream":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for word in ("a", "b"):
                        self.wfile.write(f"data: {word}\n\n".encode())
                        self.wfile.flush()
                    self.close_connection = True
                    return
                body = json.dumps({"path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if self.path == "/timed":
                    self.send_header("Server-Timing", UPSTREAM_TIMING)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the gateway gave up on a hanging node

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def timing(r: httpx.Response) -> list[tuple[str, float]]:
    """The one Server-Timing header as (name, ms) pairs, in order; every entry well formed."""
    values = r.headers.get_list("Server-Timing")
    assert len(values) == 1, values
    out = []
    for entry in values[0].split(", "):
        m = ENTRY.match(entry)
        assert m, f"malformed entry {entry!r} in {values[0]!r}"
        out.append((m.group(1), float(m.group(2))))
    return out


@pytest.fixture(scope="module")
def gw(docker_client, run_id):
    fast, hanging = upstream(), upstream(hang_s=1.0)
    fast_node, hanging_node = f"127.0.0.1:{fast.server_port}", f"127.0.0.1:{hanging.server_port}"
    logdir = Path(tempfile.mkdtemp(prefix="halab-gw-timing-"))
    with InternalNetwork(run_id, "gwtiming") as net, \
            EtcdContainer(run_id).on_network(net, "etcd1") as etcd, \
            OpaContainer(run_id).with_log_level("error").on_network(net, "opa1") as opa:
        httpx.put(f"{opa.api_url}/v1/policies/authz", content=POLICY, trust_env=False,
                  headers={"Content-Type": "text/plain"}, timeout=10).raise_for_status()
        routes = {
            "/apisix/routes/t": service_route("/t", [fast_node], opa.api_url),
            "/apisix/routes/retry": service_route("/retry", [hanging_node, fast_node], opa.api_url,
                                                  timeout_s=READ_TIMEOUT_S, retries=1),
            "/apisix/routes/hang": service_route("/hang", [hanging_node], opa.api_url,
                                                 timeout_s=READ_TIMEOUT_S, retries=0),
        }
        revision = seed(etcd.client_url, routes, [ConsumerSpec("alice", "k-alice", ("eng",)),
                                                  ConsumerSpec("bob", "k-bob", ("sales",))])
        env = {"HALAB_GATEWAY_ETCD_ENDPOINT": etcd.client_url, "HALAB_GATEWAY_LOG_LEVEL": "warning"}
        with ServiceProcess("gateway", env, log_dir=logdir) as proc, \
                httpx.Client(base_url=proc.url, trust_env=False, timeout=10) as client:
            deadline = time.monotonic() + 10
            while client.get("/gateway/status").json()["revision"] < revision:
                assert time.monotonic() < deadline, "gateway never loaded the routes"
                time.sleep(0.02)
            yield client
    fast.shutdown()
    hanging.shutdown()
    shutil.rmtree(logdir, ignore_errors=True)


def test_proxied_request_reports_gateway_opa_and_upstream(gw):
    r = gw.get("/t/plain", headers={"apikey": "k-alice"})
    assert r.status_code == 200, r.text
    entries = timing(r)
    assert [name for name, _ in entries] == ["gateway", "opa", "upstream"]
    t = dict(entries)
    assert t["gateway"] >= 0 and t["opa"] > 0
    assert t["upstream"] >= DELAY_S * 1000
    # The upstream's wait is not the gateway's: its own share stays far below the delay.
    assert t["gateway"] < DELAY_S * 1000


def test_upstreams_own_entries_come_first_and_are_kept(gw):
    r = gw.get("/t/timed", headers={"apikey": "k-alice"})
    assert r.status_code == 200, r.text
    assert r.headers["Server-Timing"].startswith(UPSTREAM_TIMING + ", gateway;dur=")
    assert [name for name, _ in timing(r)] == ["mongo_read", "opa_compile", "gateway", "opa", "upstream"]


def test_streamed_response_is_stamped_before_its_body(gw):
    with gw.stream("GET", "/t/stream", headers={"apikey": "k-alice"}) as r:
        assert r.status_code == 200
        t = dict(timing(r))
        assert r.read() == b"data: a\n\ndata: b\n\n"
    assert set(t) == {"gateway", "opa", "upstream"} and t["upstream"] >= DELAY_S * 1000


def test_gateway_errors_report_what_was_spent_so_far(gw):
    r = gw.get("/t/plain")  # no key: key-auth answers before OPA is asked
    assert r.status_code == 401
    assert [name for name, _ in timing(r)] == ["gateway"]
    r = gw.get("/t/plain", headers={"apikey": "k-bob"})  # OPA denies: never forwarded
    assert r.status_code == 403
    assert [name for name, _ in timing(r)] == ["gateway", "opa"]
    r = gw.get("/nowhere")
    assert r.status_code == 404
    assert [name for name, _ in timing(r)] == ["gateway"]
    # A node that times out: the wait is upstream time, not the gateway's.
    r = gw.get("/hang/plain", headers={"apikey": "k-alice"})
    assert r.status_code == 504
    t = dict(timing(r))
    assert t["upstream"] >= READ_TIMEOUT_S * 1000 and t["gateway"] < READ_TIMEOUT_S * 1000 / 2


def test_retried_request_sums_the_upstream_waits(gw):
    # Round robin over a hanging and a fast node: one of two requests tries the hanging one first.
    upstreams = []
    for _ in range(2):
        r = gw.get("/retry/plain", headers={"apikey": "k-alice"})
        assert r.status_code == 200, r.text
        t = dict(timing(r))
        assert t["gateway"] < READ_TIMEOUT_S * 1000 / 2
        upstreams.append(t["upstream"])
    assert min(upstreams) >= DELAY_S * 1000
    assert max(upstreams) >= (READ_TIMEOUT_S + DELAY_S) * 1000
