"""What someone on the datacenters' networks sees (issue 28, stage 4): a capture on every one
of the seed lab's bridges, during a query and a policy update that reaches OPA in both DCs,
holds neither the question's text nor the Rego's, as is or base64-encoded. A control sent in
clear across each site's bridge, last, shows the capture would have seen them."""

from __future__ import annotations

import random
import shutil
import socket

import pytest

from harness.docker_engine import EngineUnavailable, ensure_tools
from harness.topology import trust
from harness.topology.capture import CAPTURE_TOOLS, Capture
from harness.waiting import eventually
from system.policy_sync.bundle import module_id

pytestmark = [pytest.mark.docker, pytest.mark.slow]
TIMEOUT_S = 30


@pytest.fixture(scope="module")
def tshark() -> str:
    try:
        ensure_tools(CAPTURE_TOOLS, "the wire capture")
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    return shutil.which("tshark")


def _marker(what: str) -> str:
    return f"halab{what}canary{random.Random(what).randrange(10**9):09d}"


def _policy_everywhere(state, pid: str, marker: str) -> bool | list:
    opas = [n for n, c in state.components.items() if c["kind"] == "opa"]
    with trust.client(state, timeout=5) as http:
        raws = [http.get(f"{state.url(n)}/v1/policies/{module_id(pid)}", extensions=trust.named(state, n)) for n in opas]
    seen = [r.status_code == 200 and marker in r.json()["result"]["raw"] for r in raws]
    return True if all(seen) else seen


def _send_in_clear(state, name: str, payload: bytes) -> None:
    """Plain bytes to a TLS port: the server refuses them, but they crossed the bridge first."""
    host, port = state.url(name).split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(payload)
        try:
            s.recv(1024)
        except OSError:
            pass


def test_neither_a_question_nor_a_policy_crosses_a_bridge_in_clear(seed_lab, tshark, tmp_path) -> None:
    from system.gateway.seed import DEFAULT_AUTHZ_REGO
    from system.policies import DEFAULT_POLICY_ID

    state, keys = seed_lab.state, seed_lab.consumers
    question, rego_marker, control = _marker("question"), _marker("rego"), _marker("control")
    rego = f'{DEFAULT_AUTHZ_REGO}\ncanary := "{rego_marker}"\n'
    cmss = [c.name for c in seed_lab.plan.of_kind("cms")]

    with trust.vip(state, timeout=TIMEOUT_S) as vip:
        try:
            with Capture(seed_lab.docker, seed_lab.run_id, tmp_path / "wire.pcapng") as wire:
                r = vip.post("/rag/query", headers={"apikey": keys["alice"]}, json={"question": f"What does {question} mean?"})
                assert r.status_code == 200, r.text
                r = vip.put(f"/cms/policies/{DEFAULT_POLICY_ID}", headers={"apikey": keys["admin"]},
                            json={"rego": rego, "description": "capture test"})
                assert r.status_code in (200, 201, 202), r.text
                eventually(lambda: _policy_everywhere(state, DEFAULT_POLICY_ID, rego_marker), TIMEOUT_S,
                           what="the marked policy in every OPA")
                # Last, in clear, on every site's bridge: once the file holds it, it holds everything before.
                for cms in cmss:
                    _send_in_clear(state, cms, f"GET /{control}/{cms} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                for cms in cmss:
                    wire.wait_for(f"{control}/{cms}".encode())
        finally:
            restored = vip.put(f"/cms/policies/{DEFAULT_POLICY_ID}", headers={"apikey": keys["admin"]},
                               json={"rego": DEFAULT_AUTHZ_REGO, "description": "default"})
            assert restored.status_code in (200, 201, 202), restored.text

    assert len(wire.interfaces) >= len(seed_lab.plan.topology.sites), wire.interfaces
    assert not wire.holds(question.encode()), "the question crossed a bridge in clear"
    assert not wire.holds(rego_marker.encode()), "the policy's Rego crossed a bridge in clear"

