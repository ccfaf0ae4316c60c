"""The host's HTTPS clients into a running lab: the run's CA, and every name checked.

The host dials components at their bridge addresses, which Docker hands out after the
certificates were signed, so a client to one component asks for it by name: SNI and the
hostname check use its container name, which its certificate covers; the address only
routes the packets. The VIP's certificate covers 127.0.0.1 and the VIP's own address.

    with trust.component(lab.state, "cms1") as cms:     # https://<address>:8000, checked as cms1-<run>
        cms.get("/readyz")
    with trust.vip(lab.state, timeout=30) as http:      # https://127.0.0.1:<port>
        http.post("/rag/query", ...)
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import requests
import requests.adapters

from harness.topology.state import State


def context(state: State) -> ssl.SSLContext:
    """Trusts the run's CA, and presents the harness's certificate to a server that asks."""
    ctx = ssl.create_default_context(cafile=state.ca_file)
    if state.client_cert is not None:
        ctx.load_cert_chain(state.client_cert)
    return ctx


def client(state: State, **kw) -> httpx.Client:
    """Trusts the run's CA; pass `extensions=named(state, name)` on a request to a component."""
    return httpx.Client(verify=context(state), trust_env=False, **kw)


def named(state: State, name: str) -> dict:
    """A request's extensions that make it check `name`'s certificate (httpcore's SNI name)."""
    return {"sni_hostname": state.components[name]["container"]}


def vip(state: State, **kw) -> httpx.Client:
    return client(state, base_url=state.vip_url, **kw)


def component(state: State, name: str, role: str | None = None, **kw) -> httpx.Client:
    """A client of one component: its URL for `role`, its name checked on every request."""
    extensions = named(state, name)

    def by_name(request: httpx.Request) -> None:
        request.extensions.update(extensions)

    hooks = kw.pop("event_hooks", {})
    hooks = {**hooks, "request": [by_name, *hooks.get("request", ())]}
    return client(state, base_url=state.url(name, role), event_hooks=hooks, **kw)


class _Named(requests.adapters.HTTPAdapter):
    """requests (hvac's transport) checking one name at whatever address it dials."""

    def __init__(self, name: str) -> None:
        self._name = name
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, server_hostname=self._name, assert_hostname=self._name, **kwargs)


def named_session(ca_file: str | Path, name: str, client_cert: str | None = None) -> requests.Session:
    """A requests.Session for one component (hvac's `session=`): the CA, its name checked, and
    the harness's certificate presented when given."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_file)
    if client_cert is not None:
        session.cert = client_cert
    session.mount("https://", _Named(name))
    return session


def session(state: State, name: str) -> requests.Session:
    return named_session(state.ca_file, state.components[name]["container"], state.client_cert)
