"""The base of every halab container class: labels, networks by the Docker API, readiness.

Subclasses say which image (`component`), which command, and how to tell the component is
ready (`_probe`, polled until it answers or the container exits). Addresses come from the
Docker API, not from published ports: halab runs everything on internal networks, which
publish nothing, and the host reaches containers at their bridge addresses directly.
"""

from __future__ import annotations

import functools
import os
import ssl
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import docker.errors
import requests
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network as TcNetwork

from harness.labels import labels
from harness.pki import write_private
from harness.waiting import Waited, eventually
from system.common.tls import CA, CERT, CLIENTS_CA, KEY, TLS_DIR

# Ryuk cannot be pulled here: we clean up by label ourselves (harness.labels.remove_labelled).
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

DEFAULT_READY_TIMEOUT_S = 60.0
# Where a component reads its certificate and key (with_tls), the platform's services and the
# upstream programs (OPA, FerretDB, OpenBao) alike.
TLS_CA, TLS_CERT, TLS_KEY = (str(TLS_DIR / f) for f in (CA, CERT, KEY))
# With it, the component asks its clients for a certificate from that CA (mutual TLS).
TLS_CLIENTS_CA = str(TLS_DIR / CLIENTS_CA)
POLL_S = 0.1


class ContainerNotReady(RuntimeError):
    """The component did not give its health signal in time, or its container exited."""


class ContainerExited(ContainerNotReady):
    """The container exited before it was ready: waiting longer cannot help."""


def _network_name(network: Any) -> str:
    if isinstance(network, str):
        return network
    name = getattr(network, "name", None)
    if not name:
        raise TypeError(f"not a network: {network!r}")
    return name


class HalabContainer(DockerContainer):
    """A labelled container on one or more networks that waits for its own health signal.

    Not used directly; see EtcdContainer, OpaContainer, BaoContainer, FerretDBContainer,
    ToxiproxyContainer, HaproxyContainer, PythonServiceContainer.
    """

    component: ClassVar[str] = ""
    port: ClassVar[int] = 0

    def __init__(self, run_id: str, image: str | None = None, *, site: str | None = None, **kwargs: Any) -> None:
        if image is None:
            from harness.images import image_for

            image = image_for(self.component)
        super().__init__(image, **kwargs)
        self.run_id = run_id
        self._labels = labels(run_id, component=self.component, **({"site": site} if site else {}))
        self._networks: list[tuple[str, tuple[str, ...]]] = []
        self._ready_timeout = DEFAULT_READY_TIMEOUT_S
        self._extra_kwargs: dict[str, Any] = {}
        self._name = f"{run_id}-{self.component}-{uuid.uuid4().hex[:6]}"
        self.ready_seconds: float | None = None  # how long the health signal took, once started
        self.tls: ServerName | None = None  # set by with_tls: probes and url() speak HTTPS

    # -- configuration (each returns self, so calls chain)

    def on_network(self, network: Any, *aliases: str) -> HalabContainer:
        """Attach to `network` (InternalNetwork, testcontainers Network, docker Network or name) with aliases.

        Call it more than once for a multi-homed container (a WAN proxy, say).
        """
        self._networks.append((_network_name(network), tuple(aliases)))
        return self

    def with_tls(self, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, server_name: str, *,
                 clients_ca_pem: bytes | None = None) -> HalabContainer:
        """Serve HTTPS: the CAs it trusts, its certificate and key as 0600 files where the
        component reads them (system/common/tls.py for the platform's services); the readiness
        probe checks the certificate against `ca_pem` for `server_name`, since it dials the
        bridge address. `clients_ca_pem`: clients must present a certificate from that CA (the
        probe presents the component's own)."""
        files = [(TLS_CA, ca_pem), (TLS_CERT, cert_pem), (TLS_KEY, key_pem)]
        files += [(TLS_CLIENTS_CA, clients_ca_pem)] if clients_ca_pem is not None else []
        for path, data in files:
            self.with_copy_into_container(data, path, mode=0o600)
        self.tls = ServerName(ca_pem, server_name, (cert_pem, key_pem) if clients_ca_pem is not None else None)
        return self

    def with_network(self, network: TcNetwork) -> HalabContainer:  # testcontainers' spelling
        return self.on_network(network, *(self._network_aliases or ()))

    def with_label(self, key: str, value: str) -> HalabContainer:
        self._labels[key] = value
        return self

    def with_ready_timeout(self, seconds: float) -> HalabContainer:
        self._ready_timeout = seconds
        return self

    def with_cap_add(self, *caps: str) -> HalabContainer:
        self._extra_kwargs.setdefault("cap_add", []).extend(caps)
        return self

    def with_docker_kwargs(self, **kwargs: Any) -> HalabContainer:
        """Extra arguments for docker-py's containers.create (merged, unlike with_kwargs)."""
        self._extra_kwargs.update(kwargs)
        return self

    # -- lifecycle

    def start(self) -> HalabContainer:
        self._configure()
        client = self.get_docker_client().client
        first = self._networks[0] if self._networks else None
        create_kwargs: dict[str, Any] = dict(self._kwargs)
        create_kwargs.update(self._extra_kwargs)
        if first:
            create_kwargs["network"] = first[0]
            if first[1]:
                create_kwargs["networking_config"] = {
                    first[0]: client.api.create_endpoint_config(aliases=list(first[1]))
                }
        else:
            # No network given: still never on the default bridge with a route out.
            create_kwargs["network_mode"] = "none"
        self._container = client.containers.create(
            self.image,
            command=self._command,
            environment=self.env,
            name=self._name,
            labels=self._labels,
            detach=True,
            tmpfs=self.tmpfs or None,
            volumes={host: {"bind": m["bind"], "mode": m["mode"]} for host, m in self.volumes.items()} or None,
            **create_kwargs,
        )
        try:
            for net, aliases in self._networks[1:]:
                client.networks.get(net).connect(self._container, aliases=list(aliases) or None)
            for t in self._transferable_specs:
                self._transfer_into_container(*t)
            self._container.start()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        if self._container is not None:
            try:
                self._container.remove(force=force, v=delete_volume)
            except docker.errors.NotFound:
                pass

    # -- addresses

    def address(self, network: Any | None = None) -> str:
        """The container's IP on `network` (default: its first network), from the Docker API."""
        container = self.get_wrapped_container()
        container.reload()
        nets = container.attrs["NetworkSettings"]["Networks"]
        name = _network_name(network) if network is not None else (self._networks[0][0] if self._networks else None)
        if name is None or name not in nets or not nets[name].get("IPAddress"):
            raise ContainerNotReady(f"{self._name} has no address on network {name!r} (networks: {sorted(nets)})")
        return nets[name]["IPAddress"]

    @property
    def host(self) -> str:
        return self.address()

    def url(self, path: str = "", port: int | None = None, scheme: str | None = None) -> str:
        scheme = scheme or ("https" if self.tls else "http")
        return f"{scheme}://{self.address()}:{port or self.port}{path}"

    @property
    def name(self) -> str:
        return self._name

    def logs(self) -> str:
        return self.get_wrapped_container().logs().decode(errors="replace")

    # -- readiness

    def _probe(self) -> bool:
        """True once the component answers its own health signal. Exceptions count as 'not yet'."""
        raise NotImplementedError

    def _wait_ready(self) -> None:
        started = time.monotonic()

        def ready() -> bool:
            container = self.get_wrapped_container()
            container.reload()
            if container.status in ("exited", "dead"):
                raise ContainerExited(
                    f"{self.component} container {self._name} exited (code "
                    f"{container.attrs['State'].get('ExitCode')}) before it was ready: {_tail(self.logs())}"
                )
            return self._probe()

        def not_ready(w: Waited) -> ContainerNotReady:
            last = "no answer yet" if w.error is None else f"{w.error.__class__.__name__}: {w.error}"
            return ContainerNotReady(f"{self.component} in {self._name} not ready after {self._ready_timeout:.0f} s "
                                     f"({last}); logs: {_tail(self.logs())}")

        # The probe's errors (refused, timeout, partial answer) are "not yet"; an exit, or the
        # engine's own errors on the container (gone once `up` cleans up), end the wait at once.
        eventually(ready, self._ready_timeout, poll_s=POLL_S, error=not_ready,
                   fatal=(ContainerExited, docker.errors.DockerException, requests.RequestException))
        self.ready_seconds = time.monotonic() - started


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"


@dataclass(frozen=True)
class ServerName:
    """How to check a component's certificate when dialling it by address: the CA, the name."""

    ca_pem: bytes
    name: str
    client: tuple[bytes, bytes] | None = field(default=None, repr=False)  # (certificate, key) for a server that asks

    @property
    def mutual(self) -> bool:
        return self.client is not None

    @functools.cached_property
    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=self.ca_pem.decode())
        if self.client is not None:
            # ssl loads a key from a file only: a private directory, gone once loaded.
            with tempfile.TemporaryDirectory(prefix="halab-probe-") as d:
                ctx.load_cert_chain(write_private(Path(d), "client.pem", self.client[0] + self.client[1]))
        return ctx

    def context(self) -> ssl.SSLContext:
        return self._context


def http_ok(url: str, timeout: float = 2.0, accept=(200,), tls: ServerName | None = None) -> bool:
    """GET `url`; True when the status is in `accept`. No proxy (these are bridge addresses);
    with `tls`, the certificate is checked against its CA for its name (SNI included)."""
    if tls is not None:
        import httpx

        with httpx.Client(verify=tls.context(), timeout=timeout, trust_env=False) as http:
            return http.get(url, extensions={"sni_hostname": tls.name}).status_code in accept
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            return resp.status in accept
    except urllib.error.HTTPError as exc:
        return exc.code in accept
