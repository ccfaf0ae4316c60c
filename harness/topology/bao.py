"""OpenBao as one Raft cluster across the sites: its config, and init / unseal / join over HTTP.

Scratch images have no shell, so everything is driven from the host against each member's
address (DESIGN section 5): `sys/init` with one key share on the first member, unseal it,
`raft/join` each other member to the first through the WAN alias and unseal it too; the
joiners become voters after autopilot's ~10 s stabilisation. The unseal key stays in memory
and in the run's private secrets directory (for chaos restarts); the root token never
touches a file: it sets up what the gateways need, mints a limited harness token, and is
revoked.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.topology.plan import Placement
from harness.waiting import Pending, eventually

# What the harness (status, tests, chaos) may do with its own token: read the Raft state,
# renew itself, rotate the LLM key (system/vault/setup.py's path), and the nemesis's
# step-down and seal (both sudo endpoints).
HARNESS_POLICY = """
path "sys/storage/raft/configuration" { capabilities = ["read"] }
path "sys/storage/raft/autopilot/state" { capabilities = ["read"] }
path "sys/health" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "kv/apisix/llm" { capabilities = ["create", "read", "update"] }
path "sys/step-down" { capabilities = ["update", "sudo"] }
path "sys/seal" { capabilities = ["update", "sudo"] }
"""


@dataclass
class BaoSecrets:
    """Held in memory by the process that ran `up`; the unseal key also in the private dir."""

    unseal_key: str
    harness_token: str


class BaoError(RuntimeError):
    pass


class BaoCluster:
    """`members`: (placement, host-reachable base URL), the first one initialised.

    Over HTTPS (`ca_pem`: the lab CA) each member's certificate is checked for its container
    name, which `names` (base URL -> name) adds to the members' own: the host dials addresses.
    Members that ask for a client certificate get `client_cert` (the harness's, one PEM file),
    and a joiner presents its own to the leader: `identities`, member name -> (certificate, key),
    held in memory only.
    """

    def __init__(self, members: list[tuple[Placement, str]], timeout_s: float = 5.0, *, ca_pem: bytes | None = None,
                 names: dict[str, str] | None = None, client_cert: str | None = None,
                 identities: dict[str, tuple[bytes, bytes]] | None = None):
        self.members = members
        self.ca_pem = ca_pem
        self._names = {url: p.container for p, url in members} | (names or {})
        self._identities = identities or {}
        verify = ssl.create_default_context(cadata=ca_pem.decode()) if ca_pem else True
        if ca_pem and client_cert:
            verify.load_cert_chain(client_cert)
        self._http = httpx.Client(timeout=timeout_s, verify=verify, event_hooks={"request": [self._by_name]})

    @classmethod
    def of_lab(cls, state, timeout_s: float = 5.0) -> BaoCluster:
        """A running lab's members as the host reaches them (the state file's addresses)."""
        names = {state.url(n, "api"): c["container"] for n, c in state.components.items() if c["kind"] == "vault"}
        return cls([], timeout_s, ca_pem=Path(state.ca_file).read_bytes(), names=names, client_cert=state.client_cert)

    def _by_name(self, request: httpx.Request) -> None:
        name = self._names.get(f"{request.url.scheme}://{request.url.host}:{request.url.port}")
        if name:
            request.extensions["sni_hostname"] = name

    def close(self) -> None:
        self._http.close()

    def health(self, url: str) -> int | None:
        try:
            return self._http.get(f"{url}/v1/sys/health").status_code
        except httpx.HTTPError:
            return None

    def wait(self, url: str, codes: set[int], deadline_s: float, what: str) -> int:
        def answered() -> int | Pending:
            code = self.health(url)
            return code if code in codes else Pending(code)

        return eventually(answered, deadline_s, poll_s=0.1, retry=(),
                          error=lambda w: BaoError(f"OpenBao at {url} never got {what} (last /v1/sys/health: {w.last})"))

    def initialise(self, deadline_s: float = 30.0) -> tuple[str, str]:
        """Init and unseal the first member; returns (unseal key, root token)."""
        _, leader_url = self.members[0]
        self.wait(leader_url, {501, 503, 200, 429}, deadline_s, "to answer")
        # Init writes the keyring through Raft: slower than the other calls.
        resp = self._http.put(
            f"{leader_url}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}, timeout=60
        )
        if resp.status_code != 200:
            raise BaoError(f"sys/init failed with {resp.status_code}: {resp.text[:200]}")
        body = resp.json()
        key, root = body["keys_base64"][0], body["root_token"]
        self.unseal(leader_url, key)
        self.wait(leader_url, {200}, deadline_s, "active after unseal")
        return key, root

    def unseal(self, url: str, key: str) -> None:
        resp = self._http.put(f"{url}/v1/sys/unseal", json={"key": key})
        if resp.status_code != 200:
            raise BaoError(f"unseal at {url} failed with {resp.status_code}: {resp.text[:200]}")

    def join_all(self, key: str, deadline_s: float = 30.0) -> None:
        """Join each other member to the first (through its alias, hence the WAN) and unseal it."""
        leader, _ = self.members[0]
        for p, url in self.members[1:]:
            self.wait(url, {501, 503}, deadline_s, "to answer uninitialised")
            self._join(url, leader.url("api"), deadline_s, self._identities.get(p.name))
            self._unseal_joiner(url, key, deadline_s)

    def _join(self, url: str, leader_api_addr: str, deadline_s: float, identity: tuple[bytes, bytes] | None) -> None:
        def joined() -> bool | Pending:
            # Over HTTPS the joiner dials the leader itself: it must trust the lab CA, and present
            # its own certificate to a leader that asks for one.
            body = {"leader_api_addr": leader_api_addr, **({"leader_ca_cert": self.ca_pem.decode()} if self.ca_pem else {})}
            if identity is not None:
                body |= {"leader_client_cert": identity[0].decode(), "leader_client_key": identity[1].decode()}
            resp = self._http.post(f"{url}/v1/sys/storage/raft/join", json=body)
            if resp.status_code == 200 and resp.json().get("joined"):
                return True
            return Pending(f"{resp.status_code}: {resp.text[:200]}")

        eventually(joined, deadline_s, poll_s=0.3, retry=(), error=lambda w: BaoError(f"raft join at {url} failed with {w.last}"))

    def _unseal_joiner(self, url: str, key: str, deadline_s: float) -> None:
        """A Shamir-sealed joiner finishes joining once it is unsealed with the cluster's key;
        until then it refuses, and the last refusal is what is raised if it never takes."""

        def unsealed() -> bool:
            self.unseal(url, key)
            return True

        eventually(unsealed, deadline_s, poll_s=0.3, retry=(BaoError,), error=lambda w: w.error)

    def harness_token(self, url: str, root: str) -> str:
        """A renewable, limited token for the harness (policy HARNESS_POLICY)."""
        h = {"X-Vault-Token": root}
        self._http.put(f"{url}/v1/sys/policies/acl/halab-harness", headers=h, json={"policy": HARNESS_POLICY}).raise_for_status()
        resp = self._http.post(
            f"{url}/v1/auth/token/create-orphan",
            headers=h,
            json={"policies": ["halab-harness"], "period": "24h", "display_name": "halab-harness"},
        )
        resp.raise_for_status()
        return resp.json()["auth"]["client_token"]

    def revoke(self, url: str, token: str) -> None:
        self._http.post(f"{url}/v1/auth/token/revoke-self", headers={"X-Vault-Token": token}).raise_for_status()

    def raft_peers(self, url: str, token: str) -> list[dict]:
        """[{node_id, address, leader, voter}, ...] as the cluster sees it."""
        resp = self._http.get(f"{url}/v1/sys/storage/raft/configuration", headers={"X-Vault-Token": token})
        resp.raise_for_status()
        return resp.json()["data"]["config"]["servers"]


def unseal_member(state, name: str, timeout_s: float = 30.0) -> None:
    """Unseal one OpenBao node of a running topology after a restart (a chaos `node-crash`
    heals with this): the key comes from the run's private secrets directory."""
    url = state.url(name, "api")
    cluster = BaoCluster.of_lab(state)
    try:
        cluster.wait(url, {503, 200, 429}, timeout_s, "to answer")
        if cluster.health(url) == 503:
            cluster.unseal(url, state.secret("unseal_key"))
    finally:
        cluster.close()
