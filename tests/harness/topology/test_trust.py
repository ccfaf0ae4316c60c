"""harness/topology/trust.py against a local HTTPS server (127.0.0.1, a certificate from a
LabCa for one name, asking clients for a certificate from the same CA, as the components
inside the datacenters do): each client checks that name at the address it dials, refuses a
certificate for another name or from another CA, and presents the harness's own."""

from __future__ import annotations

import http.server
import ssl
import threading
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import requests

from harness.pki import CA_CERT, LabCa
from harness.topology import trust

NAME = "cms1-run"


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(state, url): a state naming one component `cms1` at the server's address."""
    d = tmp_path_factory.mktemp("trust")
    ca = LabCa.create("unit")
    ca.save(d)
    leaf = ca.issue("cms1", [NAME])
    (d / "leaf.pem").write_bytes(leaf.cert_pem + leaf.key_pem)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Quiet)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(d / "leaf.pem")
    ctx.load_verify_locations(cafile=d / CA_CERT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_port}"
    state = SimpleNamespace(ca_file=str(d / CA_CERT), client_cert=str(ca.save_client(d)), vip_url=url, components={"cms1": {"container": NAME}},
                            url=lambda name, role=None: url)
    yield state, url
    server.shutdown()


def test_a_component_client_checks_the_components_name_at_its_address(served) -> None:
    state, _url = served
    with trust.component(state, "cms1", timeout=5) as http:
        assert http.get("/healthz").text == "ok"


def test_another_name_at_the_same_address_is_refused(served) -> None:
    state, url = served
    with trust.client(state, timeout=5) as http, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        http.get(url + "/healthz", extensions={"sni_hostname": "someone-else"})


def test_a_client_that_trusts_another_ca_is_refused(served, tmp_path) -> None:
    state, url = served
    LabCa.create("other").save(tmp_path)
    other = SimpleNamespace(**{**vars(state), "ca_file": str(tmp_path / CA_CERT)})
    with trust.component(other, "cms1", timeout=5) as http, pytest.raises(httpx.ConnectError,
                                                                          match="CERTIFICATE_VERIFY_FAILED"):
        http.get("/healthz")


def test_the_requests_session_for_hvac_checks_the_name_too(served) -> None:
    state, url = served
    assert trust.session(state, "cms1").get(url + "/healthz", timeout=5).text == "ok"
    with pytest.raises(requests.exceptions.SSLError):
        trust.named_session(Path(state.ca_file), "someone-else").get(url + "/healthz", timeout=5)


def test_a_client_without_the_harness_certificate_is_refused(served) -> None:
    state, url = served
    anonymous = SimpleNamespace(**{**vars(state), "client_cert": None})
    with trust.component(anonymous, "cms1", timeout=5) as cms, pytest.raises(httpx.HTTPError):
        cms.get("/healthz")
