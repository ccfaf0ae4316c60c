"""The running topology's description on disk, so `halab status` works from another process.

Only what is not secret: run id, preset, endpoints, the VIP's port on 127.0.0.1, container
names and addresses, the WAN proxies. Secrets (the OpenBao unseal key, the harness's
limited token, consumers' API keys) live in a private directory (mode 0700, files 0600)
whose path the state names; the root token is never written anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType

from harness.kinds import KINDS
from harness.pki import CA_CERT, CLIENT


@dataclass(frozen=True)
class Component:
    """One started component as the state file records it, read-only: what the nemesis and
    the observers read. A view built on each read, so an address a restart changed
    (State.set_address) is never stale; the file keeps its plain records.

    >>> s = State("r1", "seed", "offline", 0.0, "", "", "", "", components={
    ...     "etcd1": {"kind": "etcd", "site": "dc1", "ports": {"client": 2379}, "address": "10.0.0.2"}})
    >>> s.component("etcd1").ports["client"], [c.name for c in s.of_kind("etcd")], s.of_kind("vault")
    (2379, ['etcd1'], [])
    """

    name: str
    kind: str
    site: str
    node: str = ""
    container: str = ""  # the Docker container's name
    aliases: tuple[str, ...] = ()  # its names on its site's network
    ports: Mapping[str, int] = field(default_factory=dict, hash=False)  # role -> port
    address: str = ""  # on its site's network

    @classmethod
    def of(cls, name: str, record: dict) -> Component:
        # A state file written by hand (a test's) may leave out what its reader does not need.
        return cls(name, record.get("kind", ""), record.get("site", ""), record.get("node", ""), record.get("container", ""),
                   tuple(record.get("aliases", ())), MappingProxyType(dict(record.get("ports", {}))), record.get("address", ""))


@dataclass
class State:
    run_id: str
    preset: str
    source: str
    started_at: float
    vip_url: str  # https://127.0.0.1:<port>: users and load tests (trust ca_file)
    vip_address: str  # the VIP on the edge network (host-reachable)
    toxiproxy_api: str
    secrets_dir: str
    networks: dict[str, str] = field(default_factory=dict)  # site -> docker network name
    # name -> {kind, site, node, container, aliases, ports, address}: read through component() and of_kind()
    components: dict[str, dict] = field(default_factory=dict)
    proxies: list[dict] = field(default_factory=list)  # wan.Route as dicts
    timings: dict[str, float] = field(default_factory=dict)
    prometheus_url: str = ""  # `halab up --with-metrics` only

    def component(self, name: str) -> Component:
        return Component.of(name, self.components[name])

    def of_kind(self, kind: str) -> list[Component]:
        return [Component.of(n, c) for n, c in self.components.items() if c.get("kind") == kind]

    def all_components(self) -> list[Component]:
        return [Component.of(n, c) for n, c in self.components.items()]

    def set_address(self, name: str, address: str) -> None:
        """A restarted container's new address (Docker may give it another); save() writes it."""
        self.components[name]["address"] = address

    def address(self, name: str) -> str:
        return self.components[name]["address"]

    def url(self, name: str, role: str | None = None) -> str:
        c = self.components[name]
        # The state file sorts its keys, so the main role comes from the kind table, not the order.
        kind = KINDS.get(c.get("kind", ""))
        main = next(iter(kind.ports)) if kind and kind.ports else next(iter(c["ports"]))
        role = role or main
        scheme = "https" if kind and role in kind.tls else "http"
        return f"{scheme}://{c['address']}:{c['ports'][role]}"

    @property
    def ca_file(self) -> str:
        """The run's CA certificate (public): what a user's own client trusts."""
        return str(Path(self.secrets_dir) / CA_CERT)

    @property
    def client_cert(self) -> str | None:
        """The harness's client certificate and key (0600), for components that ask for one;
        None for a lab that predates it."""
        path = Path(self.secrets_dir) / CLIENT
        return str(path) if path.is_file() else None

    def secret(self, name: str) -> str:
        return read_secret(Path(self.secrets_dir), name)


def save(state: State, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2, sort_keys=True))
    tmp.replace(path)


def load(path: Path) -> State | None:
    try:
        return State(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def forget(path: Path) -> State | None:
    """Remove the state file and its secrets directory; return what was there."""
    state = load(path)
    if state is not None:
        shutil.rmtree(state.secrets_dir, ignore_errors=True)
    path.unlink(missing_ok=True)
    return state


SECRETS_PREFIX = "halab-secrets-"


def private_dir(run_id: str) -> Path:
    """A fresh 0700 directory for this run's secrets (mkdtemp creates it 0700)."""
    return Path(tempfile.mkdtemp(prefix=f"{SECRETS_PREFIX}{run_id}-"))


def _private_dirs(run_id: str | None) -> list[Path]:
    """The secrets directories of one run, or of every run (a crashed run's included)."""
    pattern = f"{SECRETS_PREFIX}{run_id}-*" if run_id else f"{SECRETS_PREFIX}*"
    return [p for p in Path(tempfile.gettempdir()).glob(pattern) if p.is_dir()]


def remove_private_dirs(run_id: str | None = None) -> int:
    """Remove the secrets directories of one run, or of every run."""
    found = _private_dirs(run_id)
    for p in found:
        shutil.rmtree(p, ignore_errors=True)
    return len(found)


def private_files(run_id: str | None, name: str) -> list[Path]:
    """The file `name` in the secrets directory of one run, or of every run, where it exists."""
    return [p / name for p in _private_dirs(run_id) if (p / name).is_file()]


def write_secret(directory: Path, name: str, value: str) -> None:
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)


def read_secret(directory: Path, name: str) -> str:
    return (directory / name).read_text()
