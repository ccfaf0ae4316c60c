"""The gateway in-process against fake upstreams, a fake OPA, a fake OpenBao and a fake LLM
(aiohttp test servers). Config is applied directly (`Gateway.apply`), as the etcd source would."""

from __future__ import annotations

import asyncio
import collections
import json
import time

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from system.common import identity
from system.gateway.app import Gateway
from system.gateway.config import build_config
from system.gateway.seed import ConsumerSpec, consumer_entries, llm_models_route, llm_route, opa_conf
from system.gateway.settings import GatewaySettings

pytestmark = pytest.mark.anyio
IDENTITY_KEY = "gateway-and-services-share-this"


@pytest.fixture
def anyio_backend():
    return "asyncio"


# -- pure config ------------------------------------------------------------------------

def test_route_matching_follows_apisix_order():
    raw = {
        "/apisix/routes/all": {"uri": "/*", "upstream": {"nodes": {"a:1": 1}}},
        "/apisix/routes/rag": {"uri": "/rag/*", "upstream": {"nodes": {"a:1": 1}}},
        "/apisix/routes/exact": {"uri": "/rag/query", "methods": ["POST"], "upstream": {"nodes": {"a:1": 1}}},
        "/apisix/routes/bad": {"uri": "no-slash"},
        "/apisix/routes/off": {"uri": "/off", "status": 0, "upstream": {"nodes": {"a:1": 1}}},
    }
    cfg = build_config(raw, 5).index()
    assert cfg.match("POST", "/rag/query").id == "exact"
    assert cfg.match("GET", "/rag/query").id == "rag"
    assert cfg.match("GET", "/rag").id == "all"
    assert cfg.match("GET", "/off").id == "all"
    assert "/apisix/routes/bad" in cfg.errors


def test_weighted_balancer():
    cfg = build_config({"/apisix/routes/r": {"uri": "/*", "upstream": {"nodes": {"a:1": 3, "b:2": 1, "c:3": 0}}}}, 1)
    bal = cfg.routes["r"].upstream.balancer
    picks = [bal.pick().host for _ in range(8)]
    assert picks == ["a", "a", "b", "a"] * 2  # interleaved, nginx's order; c (weight 0) never
    huge = build_config({"/apisix/routes/r": {"uri": "/*", "upstream": {"nodes": {"a:1": 10**18, "b:2": 1}}}}, 1)
    assert huge.routes["r"].upstream.balancer.pick().host == "a"  # no sequence laid out by weight


# -- fakes ----------------------------------------------------------------------------------

class Fakes:
    def __init__(self):
        self.upstream_seen: list[dict] = []
        self.opa_inputs: list[dict] = []
        self.opa_allow = True
        self.opa_deny = {"allow": False, "reason": "sales may not do that"}
        self.vault_up = True
        self.vault_key = "key-1"
        self.vault_reads = 0
        self.llm_calls: list[dict] = []
        self.llm_accepts = {"key-1"}
        self.slow_s = 0.0


async def start_fakes(f: Fakes):
    async def upstream(request: web.Request):
        if f.slow_s:
            await asyncio.sleep(f.slow_s)
        f.upstream_seen.append({"path": request.path_qs, "headers": request.headers.copy(), "body": await request.text()})
        return web.json_response({"ok": True, "path": request.path_qs})

    async def opa(request: web.Request):
        body = await request.json()
        f.opa_inputs.append(body["input"])
        if f.opa_allow:
            return web.json_response({"result": {"allow": True}})
        if f.opa_deny is None:  # OPA's answer for a policy it has not loaded: no result at all
            return web.json_response({})
        return web.json_response({"result": f.opa_deny})

    async def login(request: web.Request):
        if not f.vault_up:
            return web.json_response({"errors": ["sealed"]}, status=503)
        body = await request.json()
        if body != {"role_id": "rid", "secret_id": "sid"}:
            return web.json_response({"errors": ["denied"]}, status=400)
        return web.json_response({"auth": {"client_token": "tok", "lease_duration": 3600}})

    async def kv(request: web.Request):
        if not f.vault_up:
            return web.json_response({"errors": ["sealed"]}, status=503)
        if request.headers.get("X-Vault-Token") != "tok":
            return web.json_response({"errors": ["permission denied"]}, status=403)
        f.vault_reads += 1
        return web.json_response({"data": {"api_key": f.vault_key}})

    async def llm(request: web.Request):
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if key not in f.llm_accepts:
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.json()
        f.llm_calls.append(body)
        if body.get("stream"):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for word in ("hel", "lo"):
                await resp.write(f"data: {json.dumps({'choices': [{'delta': {'content': word}}]})}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
            return resp
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": "hi"}}], "model": body.get("model")})

    app = web.Application()
    app.router.add_route("*", "/up/{tail:.*}", upstream)
    app.router.add_post("/v1/data/halab/authz", opa)
    app.router.add_post("/v1/auth/approle/login", login)
    app.router.add_get("/v1/kv/apisix/llm", kv)
    app.router.add_post("/v1/chat/completions", llm)

    async def models(request: web.Request):
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in f.llm_accepts:
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        return web.json_response({"object": "list", "data": [{"id": "m1", "object": "model"}]})

    app.router.add_get("/v1/models", models)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def env():
    f = Fakes()
    fake = await start_fakes(f)
    base = f"http://127.0.0.1:{fake.port}"
    settings = GatewaySettings(etcd_endpoint="http://127.0.0.1:9", vault_role_id="rid", vault_secret_id="sid",
                               identity_key=IDENTITY_KEY,
                               secret_ttl_s=0.5, secret_max_stale_s=1.0, secret_retry_backoff_s=0.05,
                               etcd_reconnect_max_s=10)
    gw = Gateway(settings)
    server = TestServer(gw.make_app(), host="127.0.0.1")
    await server.start_server()
    consumers = [ConsumerSpec("alice", "k-alice", ("eng",)), ConsumerSpec("rag-service", "k-rag", ("service",), "service")]
    raw = {
        "/apisix/routes/svc": {"uri": "/svc/*", "upstream": {"nodes": {f"127.0.0.1:{fake.port}": 1}, "timeout": {"read": 0.5}},
                                "plugins": {"key-auth": {}, "opa": opa_conf(base),
                                            "proxy-rewrite": {"regex_uri": ["^/svc/(.*)", "/up/$1"]}}},
        "/apisix/routes/dead": {"uri": "/dead/*", "upstream": {"nodes": {"127.0.0.1:9": 1}}},
        "/apisix/routes/two": {"uri": "/up/*", "upstream": {"nodes": {"127.0.0.1:9": 1, f"127.0.0.1:{fake.port}": 1},
                                                            "retries": 1}},
        "/apisix/routes/llm-chat": llm_route(base, base, model="m1"),
        "/apisix/routes/llm-models": llm_models_route(base, base),
        "/apisix/routes/bare-opa": {"uri": "/bare/*", "upstream": {"nodes": {f"127.0.0.1:{fake.port}": 1}},
                                    "plugins": {"key-auth": {}, "opa": {"host": base, "policy": "halab/authz"},
                                                "proxy-rewrite": {"uri": "/up/bare"}}},
        "/apisix/secrets/vault/1": {"uri": base, "prefix": "kv/apisix"},
        **consumer_entries(consumers),
    }
    gw.apply(raw, 10)
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}") as client:
        yield client, f, gw
    await server.close()
    await fake.close()


async def test_key_auth_identity_rewrite_and_request_id(env):
    client, f, _ = env
    r = await client.get("/svc/x")
    assert r.status == 401 and r.headers["X-Request-Id"]
    r = await client.get("/svc/x", headers={"apikey": "nope"})
    assert r.status == 401
    r = await client.get("/svc/x?q=1", headers={"apikey": "k-alice", "X-Request-Id": "rid-1",
                                                 "X-Consumer-Username": "admin", "X-Consumer-Assertion": "1.forged"})
    assert r.status == 200 and r.headers["X-Request-Id"] == "rid-1"
    seen = f.upstream_seen[-1]
    assert seen["path"] == "/up/x?q=1"
    assert seen["headers"]["X-Consumer-Username"] == "alice" and seen["headers"]["X-Consumer-Groups"] == "eng"
    # Signed for the services behind, and the client's own assertion dropped.
    h = seen["headers"]
    identity.verify(IDENTITY_KEY.encode(), h["X-Consumer-Assertion"], "alice", "eng", h["X-Consumer-Role"])
    assert h.getall("X-Consumer-Assertion") == [h["X-Consumer-Assertion"]] != ["1.forged"]
    assert seen["headers"]["X-Request-Id"] == "rid-1"
    assert (await client.get("/nowhere")).status == 404


async def test_opa_input_is_apisix_shaped(env):
    """APISIX 3.x's opa helper: type, request, var; route and consumer as stored when asked."""
    client, f, _ = env
    r = await client.get("/svc/x?q=1&tag=a&tag=b", headers={"apikey": "k-alice"})
    assert r.status == 200
    opa_in = f.opa_inputs[-1]
    assert set(opa_in) == {"type", "request", "var", "route", "consumer"} and opa_in["type"] == "http"
    req = opa_in["request"]
    assert {k: req[k] for k in ("scheme", "method", "host", "path")} == {
        "scheme": "http", "method": "GET", "host": "127.0.0.1", "path": "/svc/x"}
    assert isinstance(req["port"], int) and req["query"] == {"q": "1", "tag": ["a", "b"]}
    assert req["headers"]["apikey"] == "[redacted]"
    assert opa_in["var"]["remote_addr"] == "127.0.0.1" and isinstance(opa_in["var"]["timestamp"], int)
    assert opa_in["var"]["server_port"] == str(req["port"])
    assert opa_in["route"]["uri"] == "/svc/*" and "upstream" not in opa_in["route"]
    assert opa_in["route"]["plugins"]["opa"]["with_consumer"] is True
    consumer = opa_in["consumer"]
    assert consumer["username"] == consumer["consumer_name"] == "alice"
    assert consumer["labels"] == {"role": "user", "groups": "eng"}
    assert consumer["plugins"]["key-auth"]["key"] == "[redacted]", "the key never leaves the gateway"
    # APISIX's defaults: without with_route/with_consumer neither is sent.
    assert (await client.get("/bare/x", headers={"apikey": "k-alice"})).status == 200
    assert set(f.opa_inputs[-1]) == {"type", "request", "var"}


async def test_opa_deny_is_403_with_reason(env):
    client, f, _ = env
    f.opa_allow = False
    r = await client.get("/svc/x", headers={"apikey": "k-alice"})
    assert r.status == 403 and await r.text() == "sales may not do that"
    assert not f.upstream_seen


async def test_opa_custom_response_as_apisix(env):
    """APISIX's documented custom response: status_code, headers and an object reason."""
    client, f, _ = env
    f.opa_allow = False
    f.opa_deny = {"allow": False, "reason": {"why": "login first"}, "headers": {"Location": "http://example.com/auth"},
                  "status_code": 302}
    r = await client.get("/svc/x", headers={"apikey": "k-alice"}, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "http://example.com/auth"
    assert await r.json() == {"why": "login first"} and r.headers["X-Request-Id"]


async def test_upstream_errors_map_to_502_504_and_retry(env):
    client, f, _ = env
    assert (await client.get("/dead/x")).status == 502
    f.slow_s = 2.0
    t = time.perf_counter()
    r = await client.get("/svc/x", headers={"apikey": "k-alice"})
    assert r.status == 504 and time.perf_counter() - t < 1.5
    f.slow_s = 0
    for _ in range(4):  # one node refuses: every request still lands on the other
        assert (await client.get("/up/y")).status == 200


async def test_ai_proxy_uses_vault_key_and_streams(env):
    client, f, gw = env
    body = {"messages": [{"role": "user", "content": "hello"}]}
    r = await client.post("/llm/chat", json=body, headers={"apikey": "k-rag"})
    assert r.status == 200, await r.text()
    assert (await r.json())["model"] == "m1" and f.llm_calls[-1]["model"] == "m1"
    r = await client.post("/llm/chat", json={**body, "stream": True}, headers={"apikey": "k-rag"})
    text = await r.text()
    assert r.headers["Content-Type"].startswith("text/event-stream") and text.count("data:") == 3
    assert (await client.post("/llm/chat", data=b"{", headers={"apikey": "k-rag"})).status == 400
    # The OpenAI SDKs' paths: the same route, and the model list with the same key.
    r = await client.post("/llm/v1/chat/completions", json=body, headers={"apikey": "k-rag"})
    assert r.status == 200 and (await r.json())["model"] == "m1"
    r = await client.get("/llm/v1/models", headers={"apikey": "k-rag", "Authorization": "Bearer client-sent"})
    assert r.status == 200 and (await r.json())["data"][0]["id"] == "m1"
    f.vault_up = False
    gw.services.secrets.invalidate("vault/1", "llm/api_key", gw.config.secret_managers)
    assert (await client.get("/llm/v1/models", headers={"apikey": "k-rag"})).status == 503, "no key, no call"
    assert (await client.post("/llm/chat", json={"messages": []}, headers={"apikey": "k-rag"})).status == 400


async def test_no_llm_call_without_the_vault_key(env):
    client, f, _ = env
    f.vault_up = False
    r = await client.post("/llm/chat", json={"messages": [{"role": "user", "content": "x"}]}, headers={"apikey": "k-rag"})
    assert r.status == 503
    assert f.llm_calls == []


async def test_cached_key_served_up_to_max_stale_then_503(env):
    client, f, gw = env
    body = {"messages": [{"role": "user", "content": "x"}]}
    assert (await client.post("/llm/chat", json=body, headers={"apikey": "k-rag"})).status == 200
    f.vault_up = False
    await asyncio.sleep(0.7)  # past the TTL (0.5 s), within max-stale (1.0 s more)
    assert (await client.post("/llm/chat", json=body, headers={"apikey": "k-rag"})).status == 200
    await asyncio.sleep(1.0)  # past TTL + max-stale
    assert (await client.post("/llm/chat", json=body, headers={"apikey": "k-rag"})).status == 503
    f.vault_up = True
    assert (await client.post("/llm/chat", json=body, headers={"apikey": "k-rag"})).status == 200


async def test_rotated_key_reaches_gateway_and_401_forces_reread(env):
    client, f, gw = env
    body = {"messages": [{"role": "user", "content": "x"}]}
    assert (await client.post("/llm/chat", json=body, headers={"apikey": "k-rag"})).status == 200
    # Rotation without grace: the LLM refuses the cached key at once; the gateway re-reads.
    f.vault_key, f.llm_accepts = "key-2", {"key-2"}
    r = await client.post("/llm/chat", json=body, headers={"apikey": "k-rag"})
    assert r.status == 200


async def test_own_endpoints(env):
    client, _, _ = env
    assert (await client.get("/healthz")).status == 200
    r = await client.get("/readyz")
    assert r.status == 200 and r.headers["X-Request-Id"]
    status = await (await client.get("/gateway/status")).json()
    assert status["revision"] == 10 and "llm-chat" in status["routes"]
    assert "k-rag" not in json.dumps(status) and "key-1" not in json.dumps(status)
    spec = await (await client.get("/openapi.json")).json()
    assert "/gateway/status" in spec["paths"]
    assert (await client.post("/healthz")).status == 405


async def test_read_timeout_retries_only_idempotent_methods(env):
    client, f, gw = env
    hits = {"slow": 0, "fast": 0}

    async def slow(request):
        hits["slow"] += 1
        await asyncio.sleep(2)
        return web.json_response({})

    async def fast(request):
        hits["fast"] += 1
        return web.json_response({"ok": True})

    servers = []
    for handler in (slow, fast):
        app = web.Application()
        app.router.add_route("*", "/{t:.*}", handler)
        s = TestServer(app, host="127.0.0.1")
        await s.start_server()
        servers.append(s)
    try:
        raw = {"/apisix/routes/pair": {"uri": "/pair/*", "upstream": {
            "nodes": [{"host": "127.0.0.1", "port": servers[0].port, "weight": 1},
                      {"host": "127.0.0.1", "port": servers[1].port, "weight": 1}],
            "retries": 1, "timeout": {"read": 0.3}}}}
        gw.apply(raw, 11)
        statuses = {"GET": [], "POST": []}
        for method in ("GET", "POST"):
            for _ in range(4):
                r = await client.request(method, "/pair/x")
                statuses[method].append(r.status)
        assert statuses["GET"] == [200] * 4  # a slow node is skipped for the other one
        assert statuses["POST"].count(504) == 2 and statuses["POST"].count(200) == 2  # never sent twice
        # Each POST reached exactly one node. Smooth weighted round robin as nginx's: a retry's pick
        # skips the tried node and is charged to the one it lands on, so GETs reach slow 2 times in 4.
        assert hits == {"slow": 4, "fast": 6}
    finally:
        for s in servers:
            await s.close()


def _samples(text: str) -> list:
    """Samples named as Prometheus's server stores them (prometheus-client's parser would
    add `_total` to a counter's samples; the server keeps the name it scraped)."""
    from prometheus_client.parser import text_string_to_metric_families

    families = text_string_to_metric_families(text)
    return [s._replace(name=f.name) if f.type == "counter" and not f.name.startswith("halab_") else s
            for f in families for s in f.samples]


async def test_metrics_use_apisix_names_and_labels(env):
    client, f, gw = env
    assert (await client.get("/svc/x", headers={"apikey": "k-alice"})).status == 200
    assert (await client.get("/svc/x")).status == 401
    assert (await client.get("/nowhere")).status == 404
    assert (await client.get("/dead/x")).status == 502
    body = {"messages": [{"role": "user", "content": "hello"}]}
    for _ in range(2):
        assert (await client.post("/llm/chat", json=body, headers={"apikey": "k-rag"})).status == 200
    r = await client.get("/apisix/prometheus/metrics")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await r.text()
    assert "apisix_http_status{" in await (await client.get("/metrics")).text()
    # APISIX's exact family names: no `_total` added to its counters.
    assert "# TYPE apisix_http_status counter\n" in text and "apisix_http_status_total" not in text
    samples = _samples(text)
    status = {(s.labels["code"], s.labels["route"], s.labels["matched_uri"], s.labels["consumer"], s.labels["node"]):
              s.value for s in samples if s.name == "apisix_http_status"}
    assert status == {("200", "svc", "/svc/*", "alice", "127.0.0.1"): 1, ("401", "svc", "/svc/*", "", ""): 1,
                      ("404", "", "", "", ""): 1, ("502", "dead", "/dead/*", "", "127.0.0.1"): 1,
                      ("200", "llm-chat", "/llm/chat", "rag-service", "127.0.0.1"): 2}
    counts = collections.Counter()
    for s in samples:
        if s.name == "apisix_http_latency_count":
            counts[(s.labels["type"], s.labels["route"])] += s.value
    assert counts[("request", "svc")] == 2 and counts[("upstream", "svc")] == 1 and counts[("apisix", "svc")] == 2
    assert counts[("upstream", "llm-chat")] == 2
    inf = collections.Counter()
    for s in samples:
        if s.name == "apisix_http_latency_bucket" and s.labels["le"] == "+Inf":
            inf[(s.labels["type"], s.labels["route"])] += s.value
    assert inf == counts
    egress = {s.labels["route"]: s.value for s in samples if s.name == "apisix_bandwidth" and s.labels["type"] == "egress"}
    assert egress["llm-chat"] > 2 * len('{"choices": []}') and egress["svc"] > 0
    one = {s.name: s.value for s in samples if not s.labels}
    assert one["apisix_etcd_reachable"] == 0  # this gateway's etcd (127.0.0.1:9) never answers
    assert one["apisix_http_requests_total"] == 6
    assert one["halab_secret_cache_hits_total"] >= 1 and one["halab_secret_cache_reads_total"] >= 1
    assert "k-rag" not in text and "key-1" not in text  # no key, consumer's or LLM's, in the metrics


async def test_no_decision_from_opa_is_503_not_a_denial(env):
    client, f, _ = env
    f.opa_allow, f.opa_deny = False, None
    r = await client.get("/svc/x", headers={"apikey": "k-alice"})
    assert r.status == 503 and "policy not loaded" in (await r.json())["message"]
    assert f.upstream_seen == []


async def test_a_gateway_without_config_answers_503_not_404():
    gw = Gateway(GatewaySettings(etcd_endpoint="http://127.0.0.1:9", etcd_reconnect_max_s=10))
    server = TestServer(gw.make_app(), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}") as client:
            r = await client.get("/rag/query")
            assert r.status == 503 and r.headers["Retry-After"] == "1"
            assert (await client.get("/readyz")).status == 503
            gw.apply({}, 3)  # loaded, even if etcd holds no route: now a miss is a 404
            assert (await client.get("/rag/query")).status == 404
    finally:
        await server.close()
