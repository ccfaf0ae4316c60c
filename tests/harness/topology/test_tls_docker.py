"""TLS on the seed lab (issue 28, stages 2 and 3): the VIP and every listener behind it
(gateways and their Admin API, CMS, RAG, policy_sync, OPA, the LLM), the vector nodes, OpenBao
and "Atlas" serve a certificate from the run's CA for the names they are dialled by, refuse
plaintext, and are refused by a client that checks another name or trusts only the system's CAs."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from harness.containers import HaproxyContainer
from harness.kinds import KINDS
from harness.pki import LabCa
from harness.topology import trust
from harness.topology.components import ingress, lb

pytestmark = [pytest.mark.docker, pytest.mark.slow]
TIMEOUT_S = 10


def _listeners(state) -> list[tuple[str, str]]:
    """(component, port role) of every TLS listener the lab started."""
    return [(name, role) for name, c in state.components.items() for role in KINDS[c["kind"]].tls
            # etcd's mutual TLS: test_etcd_security_docker.py; MongoDB's wire protocol: below.
            if c["kind"] not in ("etcd", "mongo") and role in c["ports"]]


def test_the_vip_is_https_checked_against_the_lab_ca(seed_lab) -> None:
    state = seed_lab.state
    assert state.vip_url.startswith("https://127.0.0.1:")
    with trust.vip(state, timeout=TIMEOUT_S) as vip:
        assert vip.get("/healthz").status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # the system's CAs only
        httpx.get(state.vip_url + "/healthz", timeout=TIMEOUT_S, trust_env=False)
    with pytest.raises(httpx.HTTPError):  # plaintext to the TLS port: HAProxy closes
        httpx.get(state.vip_url.replace("https://", "http://") + "/healthz", timeout=TIMEOUT_S, trust_env=False)


def test_every_listener_on_the_request_path_serves_its_own_name_only(seed_lab) -> None:
    state = seed_lab.state
    listeners = _listeners(state)
    assert {state.components[n]["kind"] for n, _ in listeners} >= {"lb", "gateway", "cms", "rag", "policy_sync",
                                                                   "opa", "llm", "vectordb", "vault"}
    with trust.client(state, timeout=TIMEOUT_S) as http:
        for name, role in listeners:
            url = state.url(name, role)
            assert url.startswith("https://"), (name, role)
            # Its certificate holds for its name: any HTTP answer (the admin port wants a key).
            assert http.get(url + "/healthz", extensions=trust.named(state, name)).status_code < 500, (name, role)
            # A client of its own: httpx pools connections by address, not by the name checked.
            with trust.client(state, timeout=TIMEOUT_S) as other, pytest.raises(
                    httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                other.get(url + "/healthz", extensions={"sni_hostname": "someone-else"})
            try:
                plain = httpx.get(url.replace("https://", "http://") + "/healthz", timeout=TIMEOUT_S, trust_env=False)
            except httpx.HTTPError:
                continue  # the server closed on the plaintext
            assert plain.status_code == 400, (name, role, plain.status_code)  # Go's "HTTP request to an HTTPS server"


def test_atlas_speaks_tls_only_with_its_own_name(seed_lab) -> None:
    import pymongo

    state = seed_lab.state
    c = state.components["mongo"]
    address, port = c["address"], c["ports"]["mongo"]
    ctx = trust.context(state)
    with socket.create_connection((address, port), timeout=TIMEOUT_S) as sock, \
            ctx.wrap_socket(sock, server_hostname=c["container"]) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with socket.create_connection((address, port), timeout=TIMEOUT_S) as sock, pytest.raises(
            ssl.SSLCertVerificationError):
        ctx.wrap_socket(sock, server_hostname="someone-else")
    plain = pymongo.MongoClient(f"mongodb://{address}:{port}/?directConnection=true", serverSelectionTimeoutMS=3000)
    try:
        with pytest.raises(pymongo.errors.PyMongoError):
            plain.admin.command("ping")
    finally:
        plain.close()


def test_the_plain_vip_opt_in_serves_http_and_dials_the_lbs_over_tls(seed_lab, images_built) -> None:
    """`halab up --plain-vip`'s ingress, beside the running lab's: plain HTTP in, the LBs'
    certificate checked (the VIP's shared name) on the way out."""
    state, plan = seed_lab.state, seed_lab.plan
    edge = plan.of_kind("lb")[0]
    c = HaproxyContainer(state.run_id, seed_lab.containers[edge.name].image, site="publish")
    c.with_config(ingress.config(state.vip_address, edge.port, plain=True)).on_network(state.networks[edge.site])
    c.with_copy_into_container(open(state.ca_file, "rb").read(), lb.CA)
    with c:
        plain = f"http://{c.address()}:{ingress.LISTEN_PORT}"
        r = httpx.post(plain + "/rag/query", headers={"apikey": seed_lab.consumers["alice"]},
                       json={"question": "What does the gateway do?"}, timeout=30, trust_env=False)
        assert r.status_code == 200, r.text


def _refused(ctx: ssl.SSLContext, url: str, name: str) -> bool:
    """Whether a request with this context fails in TLS (TLS 1.3 reports a missing or unknown
    client certificate on the first read, after the client's side of the handshake is done)."""
    with httpx.Client(verify=ctx, trust_env=False, timeout=TIMEOUT_S) as http:
        try:
            http.get(url + "/healthz", extensions={"sni_hostname": name})
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
            return True
    return False


def test_every_listener_inside_the_datacenters_refuses_a_client_without_the_labs_certificate(seed_lab, tmp_path) -> None:
    """Mutual TLS: a certificate from another CA, or none, is refused by every listener of the
    kinds that ask (harness/kinds.py `mutual`), and by etcd's client and peer ports; the VIP and
    the LLM (an external API) ask for none, and the harness's own certificate is served."""
    state = seed_lab.state
    foreign = ssl.create_default_context(cafile=state.ca_file)  # trusts the servers, but is not the lab's
    foreign.load_cert_chain(LabCa.create("stranger").save_client(tmp_path))
    anonymous = ssl.create_default_context(cafile=state.ca_file)
    listeners = [(n, r) for n, r in _listeners(state) if KINDS[state.components[n]["kind"]].mutual]
    assert {state.components[n]["kind"] for n, _ in listeners} >= {"gateway", "cms", "rag", "policy_sync", "opa", "vectordb"}
    etcd = [(n, r) for n, c in state.components.items() if c["kind"] == "etcd" for r in ("client", "peer")]
    for name, role in listeners + etcd:
        url, sni = state.url(name, role).replace("http://", "https://"), state.components[name]["container"]
        assert _refused(foreign, url, sni), f"{name} {role} served a certificate from another CA"
        assert _refused(anonymous, url, sni), f"{name} {role} served a client without a certificate"
    for name, role in listeners:
        assert not _refused(trust.context(state), state.url(name, role), state.components[name]["container"]), (name, role)
    llm = next(n for n, c in state.components.items() if c["kind"] == "llm")
    assert not _refused(anonymous, state.url(llm), state.components[llm]["container"])  # an external API
    assert not _refused(anonymous, state.vip_url, "vip")
