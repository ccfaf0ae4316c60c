"""Who leads: the etcd leader and the active OpenBao node, asked of the systems themselves.

    etcd:    each member's /metrics (plaintext, beside its mutual-TLS client port):
             `etcd_server_is_leader 1` on the leader.
    OpenBao: GET /v1/sys/health: 200 is the active node, 429 a standby, 503 sealed.
"""

from __future__ import annotations

import httpx

from harness.topology import etcd_tls, trust
from harness.topology.state import State

TIMEOUT_S = 0.5


def etcd_leader(state: State) -> str | None:
    for c in state.of_kind("etcd"):
        try:
            text = httpx.get(f"http://{c.address}:{c.ports['metrics']}/metrics", timeout=TIMEOUT_S, trust_env=False).text
        except httpx.HTTPError:
            continue
        if "\netcd_server_is_leader 1" in text:
            return c.name
    return None


def bao_states(state: State) -> dict[str, str]:
    out = {}
    with trust.client(state, timeout=TIMEOUT_S) as http:
        for name in [c.name for c in state.of_kind("vault")]:
            try:
                code = http.get(state.url(name, "api") + "/v1/sys/health", extensions=trust.named(state, name)).status_code
                out[name] = {200: "active", 429: "standby", 503: "sealed", 501: "uninitialised"}.get(code, f"http-{code}")
            except httpx.HTTPError:
                out[name] = "down"
    return out


def bao_active(state: State) -> str | None:
    return next((n for n, s in bao_states(state).items() if s == "active"), None)


def bao_call(state: State, name: str, path: str) -> None:
    """PUT a sys endpoint (step-down, seal) with the harness's limited token."""
    with trust.component(state, name, "api", timeout=10) as http:
        resp = http.put(f"/v1/{path}", headers={"X-Vault-Token": state.secret("harness_token")})
    if resp.status_code not in (200, 204):
        raise RuntimeError(f"OpenBao {path} on {name}: HTTP {resp.status_code} {resp.text[:200]}")


def etcd_compact(state: State) -> int:
    """Compact etcd's history to its current revision (through a member that answers)."""
    last: Exception | None = None
    for name in [c.name for c in state.of_kind("etcd")]:
        try:
            with etcd_tls.as_root(state, name, timeout=10) as client:
                rev = client.kvstub.Range(etcd_tls.range_request("\0"), 2).header.revision
                client.compact(rev, physical=True)
                return rev
        except Exception as exc:  # noqa: BLE001 - grpc's errors and a refused TLS alike: try the next member
            last = exc
    raise RuntimeError(f"no etcd member compacted: {last}")
