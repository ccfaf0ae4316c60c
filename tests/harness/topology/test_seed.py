"""The `seed` topology for real: query and policy paths through the VIP, both clusters span
both DCs, the WAN really separates them, and `down` leaves nothing behind.

Tests run in file order on one session-scoped lab; the last one takes it down.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from topology_support import raft_peers, sites_of

from harness.topology import etcd_tls, trust
from harness.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DENY_BOB = """\
package halab.authz

default allow := false

allow if input.consumer.labels.role == "admin"

allow if {
	input.consumer.labels.role == "service"
	input.request.method == "POST"
	input.request.path == "/llm/chat"
}

# Users may ask questions, except bob.
allow if {
	input.consumer.labels.role == "user"
	input.consumer.username != "bob"
	input.request.method == "POST"
	input.request.path == "/rag/query"
}

reason := "denied by the test policy" if not allow
"""


def _query(http: httpx.Client, key: str) -> httpx.Response:
    return http.post("/rag/query", headers={"apikey": key}, json={"question": "What does the gateway do?"})


def _gateways(lab) -> list[httpx.Client]:
    """A client of each gateway, straight (not through the LBs), its certificate checked."""
    return [trust.component(lab.state, g.name, timeout=30) for g in lab.plan.of_kind("gateway")]


def _until(predicate, timeout_s: float, what: str, poll_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last is True:
            return
        time.sleep(poll_s)
    pytest.fail(f"{what} not within {timeout_s} s (last: {last})")


def test_rag_query_through_the_vip(seed_lab) -> None:
    assert seed_lab.state.vip_url.startswith("https://127.0.0.1:")
    with trust.vip(seed_lab.state, timeout=30) as vip:
        resp = _query(vip, seed_lab.consumers["alice"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["answer"] and body["sources"] and body["user"] == "alice"


def test_rag_and_cms_refuse_an_identity_the_gateway_did_not_sign(seed_lab) -> None:
    """A caller on a DC network, straight at the services, naming a user or an admin."""
    from system.common import identity

    forged = {"X-Consumer-Username": "alice", "X-Consumer-Groups": "eng", "X-Consumer-Role": "user"}
    state = seed_lab.state
    with (trust.component(state, "rag1", timeout=30) as rag, trust.component(state, "cms1", timeout=30) as cms,
          trust.vip(state, timeout=30) as vip):
        r = rag.post("/query", json={"question": "who is on call?"}, headers=forged)
        assert r.status_code == 401, r.text
        wrong_key = identity.headers(b"a key the caller made up", "alice", "eng", "user")
        assert rag.post("/query", json={"question": "x"}, headers=wrong_key).status_code == 401
        r = cms.put("/cms/policies/pwned", headers={**forged, "X-Consumer-Username": "halab-admin"},
                    json={"rego": "package pwned\n\ndefault allow := true\n"})
        assert r.status_code == 401, r.text
        assert cms.get("/cms/policies/pwned", headers=forged).status_code == 401
        # The same user through the VIP: the gateway signs, RAG believes.
        r = vip.post("/rag/query", json={"question": "who is on call?"}, headers={"apikey": seed_lab.consumers["alice"]})
        assert r.status_code == 200 and r.json()["user"] == "alice", r.text


def test_the_openai_sdk_works_unchanged_through_the_vip(seed_lab) -> None:
    """The way every OpenAI SDK user calls an LLM, pointed at the gateway's route."""
    import openai

    key = seed_lab.consumers["rag-service"]
    # The SDK's own client trusting the lab CA: what a user does with their company's CA.
    client = openai.OpenAI(base_url=seed_lab.state.vip_url + "/llm/v1", api_key="unused-the-gateway-holds-the-key",
                           default_headers={"apikey": key}, max_retries=0, timeout=30,
                           http_client=trust.client(seed_lab.state))
    messages = [{"role": "user", "content": "[source: d1#0] The gateway checks every request.\nQ: what checks?"}]
    reply = client.chat.completions.create(model="halab-stub-1", messages=messages)
    assert reply.choices[0].message.role == "assistant" and reply.choices[0].message.content
    chunks = list(client.chat.completions.create(model="halab-stub-1", messages=messages, stream=True))
    assert len(chunks) > 2 and "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "halab-stub-1" in [m.id for m in client.models.list()]
    # A user's key is refused by the default policy, as the SDK reports it.
    user = openai.OpenAI(base_url=seed_lab.state.vip_url + "/llm/v1", api_key="unused", max_retries=0,
                         default_headers={"apikey": seed_lab.consumers["alice"]}, http_client=trust.client(seed_lab.state))
    with pytest.raises(openai.PermissionDeniedError):
        user.chat.completions.create(model="halab-stub-1", messages=messages)


def test_a_route_made_through_the_admin_api_serves_in_both_dcs(seed_lab) -> None:
    """`halab up` seeded its routes through DC1's gateway Admin API; one more route, made the
    same way, is watched by every DC's gateway from the one etcd."""
    admin = trust.component(seed_lab.state, seed_lab.plan.of_kind("gateway")[0].name, "admin", timeout=10)
    headers = {"X-API-KEY": seed_lab.state.secret("gateway_admin_key")}
    listed = admin.get("/apisix/admin/routes", headers=headers).json()
    assert {"/apisix/routes/rag", "/apisix/routes/llm-chat"} <= {i["key"] for i in listed["list"]}
    assert admin.get("/apisix/admin/routes").status_code == 401
    route = {"uri": "/admin-made", "plugins": {"key-auth": {}, "proxy-rewrite": {"uri": "/healthz"}},
             "upstream": {"type": "roundrobin", "nodes": {seed_lab.plan.site_local("rag"): 1},
                          "scheme": seed_lab.plan.scheme("rag")}}
    r = admin.put("/apisix/admin/routes/admin-made", json=route, headers=headers)
    assert r.status_code == 201, r.text
    gateways = _gateways(seed_lab)
    key = {"apikey": seed_lab.consumers["alice"]}
    try:
        _until(lambda: [g.get("/admin-made", headers=key).status_code
                        for g in gateways] == [200] * len(gateways) or None, 15, "the new route served by every gateway")
    finally:
        admin.delete("/apisix/admin/routes/admin-made", headers=headers)
    _until(lambda: all(g.get("/admin-made", headers=key).status_code == 404
                       for g in gateways) or None, 15, "the deleted route gone from every gateway")


def test_llm_stub_admin_answers_the_runs_token_only(seed_lab) -> None:
    llm = trust.component(seed_lab.state, seed_lab.plan.of_kind("llm")[0].name, timeout=5)
    token = seed_lab.state.secret("llm_admin_token")
    ok = llm.get("/admin/stats", headers={"X-Admin-Token": token})
    assert ok.status_code == 200, ok.text
    assert llm.get("/admin/stats", headers={"X-Admin-Token": "guess"}).status_code in (401, 403)


def test_policy_update_through_the_vip_is_enforced_in_both_dcs(seed_lab) -> None:
    from system.gateway.seed import DEFAULT_AUTHZ_REGO
    from system.policies import DEFAULT_POLICY_ID

    vip, keys = trust.vip(seed_lab.state, timeout=30), seed_lab.consumers
    gateways = _gateways(seed_lab)
    assert all(_query(g, keys["bob"]).status_code == 200 for g in gateways)

    def put(rego: str) -> httpx.Response:
        return vip.put(f"/cms/policies/{DEFAULT_POLICY_ID}", headers={"apikey": keys["admin"]},
                       json={"rego": rego, "description": "test"})

    try:
        resp = put(DENY_BOB)
        assert resp.status_code in (200, 201, 202), resp.text

        def enforced_everywhere():
            codes = [(_query(g, keys["bob"]).status_code, _query(g, keys["alice"]).status_code) for g in gateways]
            return True if all(c == (403, 200) for c in codes) else codes

        _until(enforced_everywhere, 15, "bob denied and alice allowed on every DC's gateway")
    finally:
        assert put(DEFAULT_AUTHZ_REGO).status_code in (200, 201, 202)
        _until(lambda: all(_query(g, keys["bob"]).status_code == 200 for g in gateways) or None, 15,
               "default policy restored")


def test_each_opa_takes_its_policies_as_policy_syncs_bundle_and_reports_it_back(seed_lab) -> None:
    """OPA long-polls its site's policy_sync over mutual TLS: the bundle it activated is the one
    on offer, its modules are the bundle's, and a REST write into a policy's package is refused."""
    from system.policies import DEFAULT_POLICY_ID
    from system.policy_sync.bundle import module_id

    st = seed_lab.state
    for sync_name, opa_name in zip([c.name for c in st.of_kind("policy_sync")], [c.name for c in st.of_kind("opa")],
                                   strict=True):
        with trust.component(st, sync_name, timeout=10) as sync, trust.component(st, opa_name, timeout=10) as opa:
            status = eventually(lambda: (s := sync.get("/status").json())["bundle"]["active"] == s["bundle"]["offered"]
                                and s, 15, f"{opa_name} active on the offered bundle")
            assert DEFAULT_POLICY_ID in status["policies"] and status["bundle"]["activations"] >= 1, status
            assert opa.get(f"/v1/policies/{module_id(DEFAULT_POLICY_ID)}").status_code == 200
            owned = opa.put("/v1/policies/intruder", content="package halab.authz\nallow := true\n")
            assert owned.status_code == 400 and "owned by bundle" in owned.text, owned.text


def test_a_policy_document_through_the_vip_changes_decisions_in_both_dcs_without_a_compile(seed_lab) -> None:
    """The data path end to end: the CMS stores the document, etcd carries it, each policy_sync
    writes it through its OPA's Data API; no bundle is activated for it."""
    st, keys = seed_lab.state, seed_lab.consumers
    vip = trust.vip(st, timeout=30)
    admin = {"apikey": keys["admin"]}
    syncs = [c.name for c in st.of_kind("policy_sync")]
    opas = [trust.component(st, c.name, timeout=10) for c in st.of_kind("opa")]

    def allowed(user: str) -> list:
        return [o.post("/v1/data/halab/gate/allow", json={"input": {"user": user}}).json().get("result") for o in opas]

    def activations() -> list[int]:
        out = []
        for n in syncs:
            with trust.component(st, n, timeout=10) as sync:
                out.append(sync.get("/status").json()["bundle"]["activations"])
        return out

    try:
        r = vip.put("/cms/policy-data/gate", headers=admin, params={"wait": "enforced"},
                    json={"data": {"users": ["bob"]}, "description": "who passes the gate"})
        assert r.status_code in (200, 201), r.text
        r = vip.put("/cms/policies/gate", headers=admin, params={"wait": "enforced"},
                    json={"rego": "package halab.gate\n\nallow if input.user in data.policy_data.gate.users\n",
                          "description": "reads its users from a document"})
        assert r.status_code in (200, 201), r.text
        eventually(lambda: allowed("bob") == [True, True], 15, "bob passes in both DCs")
        before = activations()
        r = vip.put("/cms/policy-data/gate", headers=admin, params={"wait": "enforced"},
                    json={"data": {"users": ["alice"]}, "description": "alice instead"})
        assert r.status_code == 200 and r.json()["enforced"], r.text
        eventually(lambda: allowed("alice") == [True, True] and allowed("bob") == [None, None], 15,
                   "the new document decides in both DCs")
        assert activations() == before, "a document change made OPA compile"
    finally:
        vip.delete("/cms/policies/gate", headers=admin)
        vip.delete("/cms/policy-data/gate", headers=admin)
        for o in opas:
            o.close()


def test_etcd_lists_one_member_per_dc(seed_lab) -> None:
    etcd1 = seed_lab.plan.of_kind("etcd")[0]
    with etcd_tls.as_root(seed_lab.state, etcd1.name) as client:
        listed = list(client.members)
    members = [m.name for m in listed]
    assert sorted(seed_lab.plan.topology.site_of(m) for m in members) == ["dc1", "dc2"]
    peer_urls = [u for m in listed for u in m.peer_urls]
    assert all(u.startswith("https://") for u in peer_urls)  # peers speak mutual TLS
    assert all(u.split("//")[1].split(":")[0] in members for u in peer_urls)  # alias URLs, not addresses


def test_openbao_raft_peers_span_both_dcs(seed_lab) -> None:
    peers = raft_peers(seed_lab)
    assert sites_of(seed_lab, peers) == ["dc1", "dc2"]
    assert sum(p["leader"] for p in peers) == 1


def test_cutting_the_wan_separates_the_dcs_and_healing_rejoins_them(seed_lab) -> None:
    etcds = [seed_lab.url(p.name, "metrics") for p in seed_lab.plan.of_kind("etcd")]

    def health(url: str) -> str:
        try:
            return httpx.get(f"{url}/health", timeout=3, trust_env=False).json()["health"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return repr(exc)

    assert all(health(u) == "true" for u in etcds)
    try:
        cut = seed_lab.wan.cut("dc1", "dc2")
        assert "dc1__etcd2_peer" in cut and "dc2__etcd1_peer" in cut
        # Each member loses its only peer, hence its quorum.
        _until(lambda: all(health(u) != "true" for u in etcds) or [health(u) for u in etcds], 15, "etcd lost its peer")
        # The DCs themselves still answer locally: it is the link that is cut.
        assert all(_query(g, seed_lab.consumers["alice"]).status_code != 0 for g in _gateways(seed_lab))
    finally:
        seed_lab.wan.heal()
    _until(lambda: all(health(u) == "true" for u in etcds) or [health(u) for u in etcds], 20, "etcd healed")
    proxies = seed_lab.wan.proxies()
    assert all(p["enabled"] for p in proxies.values())
    # heal keeps the spec's WAN latency: two baseline latency toxics per proxy, nothing else
    assert all(sorted(t["name"] for t in p["toxics"]) == ["baseline_downstream", "baseline_upstream"]
               for p in proxies.values())


def test_the_other_dc_is_reachable_only_through_the_wan_proxy(seed_lab, docker_client) -> None:
    rag1 = docker_client.containers.get(seed_lab.plan["rag1"].container)
    etcd2, vectordb2 = seed_lab.plan["etcd2"], seed_lab.plan["vectordb2"]
    probe = ("import socket,sys\n"
             "try:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close(); print('open')\n"
             "except OSError as e:\n print('closed', e)")

    def dial(host: str, port: int) -> str:
        return rag1.exec_run(["python", "-c", probe, host, str(port)]).output.decode().strip()

    # etcd2's own address on dc2 is unreachable from dc1 ...
    assert dial(seed_lab.address("etcd2"), etcd2.ports["client"]).startswith("closed")
    # ... while its alias resolves, inside dc1, to the WAN proxy, which carries the peer port
    assert dial("etcd2", etcd2.ports["peer"]) == "open"
    assert dial("vectordb2", vectordb2.port) == "open"
    # and the etcd client port too (clients fail over to every member), but nothing proxies
    # gateway2's Admin API: only the connections the spec needs cross
    assert dial("etcd2", etcd2.ports["client"]) == "open"
    assert dial("gateway2", seed_lab.plan["gateway2"].ports["admin"]).startswith("closed")


def test_status_from_another_process(seed_lab) -> None:
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, HALAB_TOPOLOGY_STATE_FILE=str(seed_lab.state_file))
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "status", "--json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["run_id"] == seed_lab.run_id and sorted(body["etcd_members"]) == ["etcd1", "etcd2"]
    assert all(c["health"].startswith("ok") for c in body["components"]), body["components"]
    assert len(body["proxies"]) == len(seed_lab.routes) and body["vip_holder"] in ("lb1", "lb2")
    assert {p["node_id"] for p in body["raft_peers"]} == {"vault1", "vault2"}


def test_attach_rebuilds_the_lab_from_the_state_file(seed_lab) -> None:
    from harness.topology import attach

    other = attach(seed_lab.state_file)
    try:
        assert other.run_id == seed_lab.run_id and other.routes == seed_lab.routes
        assert other.consumers == seed_lab.consumers and other.bao == seed_lab.bao
        assert other.url("gateway1") == seed_lab.url("gateway1")
        assert set(other.wan.proxies()) == {r.name for r in seed_lab.routes}
    finally:
        other.wan.close()


def test_a_restarted_openbao_node_is_unsealed_from_the_private_dir(seed_lab, docker_client) -> None:
    from harness.topology.bao import BaoCluster, unseal_member

    vault2 = seed_lab.plan.of_kind("vault")[1]
    docker_client.containers.get(vault2.container).restart(timeout=5)
    # A restart may bring another address on the site network: the state follows it.
    seed_lab.state.components[vault2.name]["address"] = seed_lab.containers[vault2.name].address(
        seed_lab.state.networks[vault2.site])
    cluster = BaoCluster.of_lab(seed_lab.state)
    try:
        cluster.wait(seed_lab.url(vault2.name, "api"), {503}, 60, "sealed after the restart")
        unseal_member(seed_lab.state, vault2.name)
        cluster.wait(seed_lab.url(vault2.name, "api"), {200, 429}, 60, "unsealed and back in the cluster")
    finally:
        cluster.close()


def test_no_secret_is_in_a_containers_environment(seed_lab, docker_client) -> None:
    """API keys, AppRole credentials and admin tokens reach services as files, not variables
    that `docker inspect` would show."""
    secrets = {*seed_lab.consumers.values(), seed_lab.bao.unseal_key, seed_lab.bao.harness_token}
    containers = docker_client.containers.list(filters={"label": f"halab={seed_lab.run_id}"})
    assert containers
    for c in containers:
        env = "\n".join(c.attrs["Config"].get("Env") or [])
        assert not [s for s in secrets if s and s in env], c.name
        assert not [line for line in env.splitlines() if "SECRET_ID" in line or "TOKEN" in line], c.name


def test_no_secret_reaches_a_containers_log(seed_lab, docker_client) -> None:
    """After the queries, policy updates, SDK and Admin API calls above: no container's log
    holds a secret the run handed out, nor anything shaped like a token or a private key."""
    from harness.topology.leaks import leaks, secrets_of

    secrets = secrets_of(seed_lab.run_id, Path(seed_lab.state.secrets_dir), docker_client)
    values = set(secrets.values())
    # The scan looks for what matters: the consumers' keys, OpenBao's unseal key, the LLM key.
    assert {k.encode() for k in seed_lab.consumers.values()} <= values
    assert seed_lab.bao.unseal_key.encode() in values
    assert any(name.endswith("llm_api_key") for name in secrets), sorted(secrets)
    assert leaks(seed_lab.run_id, Path(seed_lab.state.secrets_dir), docker_client) == []


def test_down_leaves_nothing_labelled(seed_lab, docker_client) -> None:
    run_id = seed_lab.run_id
    seed_lab.down(client=docker_client)
    selector = {"label": f"halab={run_id}"}
    assert docker_client.containers.list(all=True, filters=selector) == []
    assert docker_client.networks.list(filters=selector) == []
    assert docker_client.volumes.list(filters=selector) == []
    assert not seed_lab.state_file.exists()
    assert not Path(seed_lab.state.secrets_dir).exists()
