"""etcd in the lab: mutual TLS on its client and peer ports, and a user per service with the
least it needs (issue 28, stage 1).

etcd takes a client certificate's common name as the user (`--client-cert-auth` with auth
enabled), so the services' gRPC clients log in with their certificate alone. The gateway
reads etcd through etcd's HTTP gateway, which ignores the certificate's name: it also has a
password (system/gateway/etcd_http.py). The harness is etcd's `root`, by certificate.

    >>> sorted(ROLES), ROLES["policy_sync"]
    (['cms', 'gateway', 'policy_sync'], (('/policies/', 'read'),))
"""

from __future__ import annotations

import contextlib
import secrets as pysecrets
from collections.abc import Iterator
from pathlib import Path

import grpc

from harness.pki import Issued, LabCa, write_private
from harness.topology.plan import Placement
from harness.waiting import eventually
from system.common.etcd import EtcdTls, connect, etcd3

TLS_DIR = "/etc/halab/etcd"  # in a container: ca.pem, cert.pem, key.pem (0600)
ROOT = "root"

# etcd user (a client certificate's common name) -> (key prefix, permission). The gateway
# writes /apisix as well as reading it: it serves APISIX's Admin API, as APISIX does.
ROLES: dict[str, tuple[tuple[str, str], ...]] = {
    "cms": (("/policies/", "readwrite"),),
    "policy_sync": (("/policies/", "read"),),
    "gateway": (("/apisix/", "readwrite"),),
}
# Users of etcd's HTTP gateway, which ignores (and, with auth on, refuses) a certificate's
# CN: they log in with a password, over a certificate without a CN.
PASSWORD_USERS = frozenset({"gateway"})
_PERM = {"read": 0, "write": 1, "readwrite": 2}  # authpb.Permission.Type


def member_cert(ca: LabCa, p: Placement) -> Issued:
    """A member's certificate: every name it is dialled by (its aliases, which the WAN proxy
    answers for on the other sites, and its container name), and 127.0.0.1 for a client on
    the member's own host. It serves clients and peers, and is the member's client
    certificate to its peers and to its own HTTP gateway."""
    return ca.issue(p.name, [*p.aliases, p.container, "localhost"], ips=["127.0.0.1"])


def client_cert(ca: LabCa, user: str) -> Issued:
    return ca.issue(user, without_cn=user in PASSWORD_USERS)


def files(ca: LabCa, issued: Issued) -> dict[str, bytes]:
    """What goes into TLS_DIR of a container: path -> content."""
    return {f"{TLS_DIR}/ca.pem": ca.cert_pem, f"{TLS_DIR}/cert.pem": issued.cert_pem,
            f"{TLS_DIR}/key.pem": issued.key_pem}


def member_flags() -> list[str]:
    return [f"--cert-file={TLS_DIR}/cert.pem", f"--key-file={TLS_DIR}/key.pem",
            f"--trusted-ca-file={TLS_DIR}/ca.pem", "--client-cert-auth",
            f"--peer-cert-file={TLS_DIR}/cert.pem", f"--peer-key-file={TLS_DIR}/key.pem",
            f"--peer-trusted-ca-file={TLS_DIR}/ca.pem", "--peer-client-cert-auth"]


def save_root(ca: LabCa, secrets_dir: Path) -> None:
    """The CA (for a user's own clients) and the harness's root certificate, in the run's
    private directory."""
    ca.save(secrets_dir)
    root = ca.issue(ROOT)
    d = secrets_dir / "etcd-root"
    d.mkdir(mode=0o700, exist_ok=True)
    write_private(d, "ca.pem", ca.cert_pem)
    write_private(d, "cert.pem", root.cert_pem)
    write_private(d, "key.pem", root.key_pem)


def root_tls(secrets_dir: str | Path, member: str) -> EtcdTls:
    """The harness's TLS to `member`, dialled by address from the host: the member's name is
    what its certificate is checked against."""
    d = Path(secrets_dir) / "etcd-root"
    return EtcdTls(str(d / "ca.pem"), str(d / "cert.pem"), str(d / "key.pem"), server_name=member)


def root_client(secrets_dir: str | Path, member: str, address: str, port: int, timeout: float = 5.0):
    """An etcd3 client to `member` as root, over mutual TLS; close it after use."""
    return connect(f"{address}:{port}", timeout=timeout, tls=root_tls(secrets_dir, member))


@contextlib.contextmanager
def as_root(state, member: str, timeout: float = 5.0) -> Iterator:
    """`root_client` for a member of a running lab (its state file's addresses)."""
    c = state.components[member]
    client = root_client(state.secrets_dir, member, c["address"], c["ports"]["client"], timeout)
    try:
        yield client
    finally:
        client.close()


def range_request(key: str, *, serializable: bool = False):
    return etcd3.etcdrpc.RangeRequest(key=key.encode(), serializable=serializable)


def new_password() -> str:
    return pysecrets.token_urlsafe(24)


def enable_auth(secrets_dir: str | Path, member: str, address: str, port: int, passwords: dict[str, str],
                connect_timeout_s: float = 60.0) -> None:
    """Users and roles, then auth on, through `member` as root. `passwords`: the users that
    log in with one (the gateway); every other user has a random password nobody keeps, since
    its certificate is how it logs in. Run once, as the cluster becomes healthy."""
    client = root_client(secrets_dir, member, address, port)
    try:
        # On a busy host the first TLS handshake can outlast one call's deadline ("timed out
        # before receiving SETTINGS frame"): connect first, then make the changes once each
        # (they are not idempotent: a second UserAdd is refused).
        eventually(lambda: client.status() is not None, connect_timeout_s, poll_s=0.5,
                   retry=(grpc.RpcError, etcd3.exceptions.Etcd3Exception), what=f"a TLS connection to {member} as root")
        _enable_auth(client, passwords)
    finally:
        client.close()


def _enable_auth(client, passwords: dict[str, str]) -> None:
    from etcd3.etcdrpc import auth_pb2

    rpc = etcd3.etcdrpc
    stub = rpc.AuthStub(client.channel)
    t = client.timeout
    stub.UserAdd(rpc.AuthUserAddRequest(name=ROOT, password=new_password()), t)
    stub.UserGrantRole(rpc.AuthUserGrantRoleRequest(user=ROOT, role=ROOT), t)
    for user, grants in ROLES.items():
        stub.RoleAdd(rpc.AuthRoleAddRequest(name=user), t)
        for prefix, perm in grants:
            stub.RoleGrantPermission(rpc.AuthRoleGrantPermissionRequest(name=user, perm=auth_pb2.Permission(
                permType=_PERM[perm], key=prefix.encode(), range_end=etcd3.utils.increment_last_byte(prefix.encode()))), t)
        stub.UserAdd(rpc.AuthUserAddRequest(name=user, password=passwords.get(user) or new_password()), t)
        stub.UserGrantRole(rpc.AuthUserGrantRoleRequest(user=user, role=user), t)
    stub.AuthEnable(rpc.AuthEnableRequest(), t)

