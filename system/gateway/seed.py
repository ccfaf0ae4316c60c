"""The default routes and consumers, written to etcd as APISIX JSON.

    routes = default_routes(rag_nodes=["rag1:8000"], cms_nodes=["cms1:8000"],
                            llm_endpoint="http://llm:8000", opa_url="http://opa1:8181",
                            vault_addr="http://vault1:8200")
    seed("http://etcd1:2379", routes, [ConsumerSpec("rag-service", key, ("service",), "service")])

Routes: `/rag/*` (prefix stripped by proxy-rewrite) and `/cms/*` (the CMS serves under /cms), both
with key-auth and opa, and
`/llm/chat` (the hairpin: key-auth, opa, ai-proxy with the key from
`$secret://vault/1/llm/api_key`), also at `/llm/v1/chat/completions`, and `/llm/v1/models`
(proxy-rewrite sets the same key): `openai.OpenAI(base_url=VIP + "/llm/v1",
default_headers={"apikey": key})` works unchanged. The secret manager record `/apisix/secrets/vault/1` has
APISIX's shape; a real APISIX would take its token from `$ENV://HALAB_VAULT_TOKEN`, this
gateway logs in with AppRole instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from system.common.etcd import connect
from system.policies import DEFAULT_AUTHZ_REGO  # noqa: F401 - re-exported for the gateway's callers

PREFIX = "/apisix"
TXN_OPS = 100
LLM_SECRET_REF = "$secret://vault/1/llm/api_key"
VAULT_KV_PREFIX = "kv/apisix"  # KV v1 mount "kv"; the key lives at kv/apisix/llm, field api_key


@dataclass(frozen=True)
class ConsumerSpec:
    username: str
    key: str
    groups: tuple[str, ...] = ()
    role: str = "user"

    def to_apisix(self) -> dict:
        labels = {"role": self.role}
        if self.groups:
            labels["groups"] = ",".join(self.groups)
        return {"username": self.username, "labels": labels, "plugins": {"key-auth": {"key": self.key}}}


def _nodes(nodes: Mapping[str, int] | Iterable[str]) -> dict[str, int]:
    return dict(nodes) if isinstance(nodes, Mapping) else {n: 1 for n in nodes}


def opa_conf(opa_url: str, policy: str = "halab/authz") -> dict:
    """The default policy decides on the consumer's labels and the route's name: both sent."""
    return {"host": opa_url, "policy": policy, "with_route": True, "with_consumer": True}


def service_route(uri_prefix: str, nodes, opa_url: str, *, timeout_s: float = 30.0, retries: int = 1,
                  policy: str = "halab/authz", strip_prefix: bool = True, scheme: str = "http") -> dict:
    """A key-auth + opa route to `nodes`; `strip_prefix` for services that serve at their root (rag)."""
    name = uri_prefix.strip("/")
    plugins = {"key-auth": {}, "opa": opa_conf(opa_url, policy)}
    if strip_prefix:
        plugins["proxy-rewrite"] = {"regex_uri": [f"^{uri_prefix.rstrip('/')}/(.*)", "/$1"]}
    return {
        "name": name,
        "uri": f"{uri_prefix.rstrip('/')}/*",
        "upstream": {"type": "roundrobin", "nodes": _nodes(nodes), "retries": retries, "scheme": scheme,
                     "timeout": {"connect": 2, "send": timeout_s, "read": timeout_s}},
        "plugins": plugins,
    }


def llm_route(llm_endpoint: str, opa_url: str, *, model: str = "halab-stub-1", timeout_ms: int = 30000,
              secret_ref: str = LLM_SECRET_REF, policy: str = "halab/authz") -> dict:
    endpoint = llm_endpoint.rstrip("/")
    if not endpoint.endswith("/chat/completions"):
        endpoint += "/v1/chat/completions"
    return {
        "name": "llm-chat",
        # /llm/chat is the lab's own; the second is where the OpenAI SDKs post with
        # base_url=<VIP>/llm/v1.
        "uris": ["/llm/chat", "/llm/v1/chat/completions"],
        "methods": ["POST"],
        "plugins": {
            "key-auth": {},
            "opa": opa_conf(opa_url, policy),
            "ai-proxy": {
                "provider": "openai-compatible",
                "auth": {"header": {"Authorization": f"Bearer {secret_ref}"}},
                "options": {"model": model},
                "override": {"endpoint": endpoint},
                "timeout": timeout_ms,
            },
        },
    }


def llm_models_route(llm_endpoint: str, opa_url: str, *, secret_ref: str = LLM_SECRET_REF,
                     policy: str = "halab/authz") -> dict:
    """GET /llm/v1/models, the OpenAI SDKs' `models.list()`: the LLM's own list, with the key."""
    url = urlsplit(llm_endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    return {
        "name": "llm-models",
        "uri": "/llm/v1/models",
        "methods": ["GET"],
        "upstream": {"type": "roundrobin", "scheme": url.scheme, "nodes": {f"{url.hostname}:{port}": 1},
                     "timeout": {"connect": 2, "send": 10, "read": 10}},
        "plugins": {
            "key-auth": {},
            "opa": opa_conf(opa_url, policy),
            "proxy-rewrite": {"uri": "/v1/models", "headers": {"set": {"Authorization": f"Bearer {secret_ref}"}}},
        },
    }


def default_routes(*, rag_nodes, cms_nodes, llm_endpoint: str, opa_url: str, vault_addr: str | None = None,
                   model: str = "halab-stub-1", llm_timeout_ms: int = 30000, upstream_timeout_s: float = 30.0,
                   scheme: str = "http") -> dict[str, dict]:
    """etcd key -> JSON value for the default routes and the Vault secret manager.

    Without `vault_addr` the secret manager record names no address and each gateway uses
    its own site's OpenBao (HALAB_GATEWAY_VAULT_ADDR): one etcd serves every DC. `scheme`:
    how the gateway dials RAG and the CMS (`https` in the lab, issue 28).
    """
    vault = {"prefix": VAULT_KV_PREFIX, "token": "$ENV://HALAB_VAULT_TOKEN"}
    if vault_addr:
        vault["uri"] = vault_addr.rstrip("/")
    return {
        f"{PREFIX}/routes/rag": service_route("/rag", rag_nodes, opa_url, timeout_s=upstream_timeout_s,
                                              scheme=scheme),
        # The CMS serves its API under /cms itself, so its path passes through unchanged.
        f"{PREFIX}/routes/cms": service_route("/cms", cms_nodes, opa_url, timeout_s=upstream_timeout_s,
                                              strip_prefix=False, scheme=scheme),
        f"{PREFIX}/routes/llm-chat": llm_route(llm_endpoint, opa_url, model=model, timeout_ms=llm_timeout_ms),
        f"{PREFIX}/routes/llm-models": llm_models_route(llm_endpoint, opa_url),
        f"{PREFIX}/secrets/vault/1": vault,
    }


def consumer_entries(consumers: Iterable[ConsumerSpec]) -> dict[str, dict]:
    return {f"{PREFIX}/consumers/{c.username}": c.to_apisix() for c in consumers}


def seed(etcd_endpoint: str, entries: Mapping[str, dict], consumers: Iterable[ConsumerSpec] = (),
         *, timeout: float = 5.0) -> int:
    """Write routes/secrets/consumers to etcd (one transaction per 100 keys); returns etcd's revision."""
    all_entries = {**entries, **consumer_entries(consumers)}
    client = connect(etcd_endpoint.split(",")[0], timeout=timeout)
    try:
        ops = [client.transactions.put(k, json.dumps(v)) for k, v in all_entries.items()]
        # etcd allows 128 operations per transaction (--max-txn-ops).
        for i in range(0, len(ops), TXN_OPS):
            ok, _ = client.transaction(compare=[], success=ops[i:i + TXN_OPS], failure=[])
            if not ok:
                raise RuntimeError("etcd refused the seeding transaction")
        return int(client.get_prefix_response(PREFIX, keys_only=True).header.revision)
    finally:
        client.close()
