"""Seed a started topology: routes and consumers in etcd, user profiles in "Atlas", the
default policy set through the CMS, a sample corpus through the RAG ingest; then one RAG
query through the VIP proves the path end to end.

The consumers' API keys are made per run (new_consumers) and kept in the run's private
secrets directory, never in the state file.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import httpx

from harness.topology.plan import Plan

if TYPE_CHECKING:
    from harness.topology.realise import Running


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    role: str  # "user" | "admin" | "service"


USERS = (
    User("alice", ("staff", "engineering"), "user"),
    User("bob", ("staff",), "user"),
    User("admin", ("ops",), "admin"),
    # The RAG service's own identity for the hairpin call back through the gateway.
    User("rag-service", ("service",), "service"),
)
SERVICE_CONSUMER = "rag-service"


def new_consumers() -> dict[str, str]:
    return {u.name: secrets.token_urlsafe(18) for u in USERS}


def dump_consumers(consumers: dict[str, str]) -> str:
    return json.dumps(consumers, indent=2)


def service_env(plan: Plan, consumers: dict[str, str]) -> dict[str, dict[str, str]]:
    """Per-component settings that come from seeding: the RAG service's gateway key."""
    return {p.name: {"gateway_api_key": consumers[SERVICE_CONSUMER]} for p in plan.of_kind("rag")}


def seed_routes(lab: "Running") -> int:
    from system.gateway.seed import ConsumerSpec, default_routes, seed

    plan = lab.plan
    routes = default_routes(
        rag_nodes=[plan.site_local("rag")],
        cms_nodes=[plan.site_local("cms")],
        llm_endpoint=plan.nearest("llm", plan.of_kind("gateway")[0].site).url(),
        opa_url=f"http://{plan.site_local('opa')}",
        vault_addr=plan.of_kind("vault")[0].url("api"),
    )
    # One etcd serves every DC: the secret manager record names no OpenBao address, so each
    # gateway uses its own site's node (HALAB_GATEWAY_VAULT_ADDR), as the routes use `rag`.
    for key, value in routes.items():
        if key.startswith("/apisix/secrets/"):
            value.pop("uri", None)
    consumers = [ConsumerSpec(u.name, lab.consumers[u.name], u.groups, u.role) for u in USERS]
    return seed(lab.url(plan.of_kind("etcd")[0].name, "client"), routes, consumers)


def seed_users(lab: "Running") -> None:
    import pymongo

    mongo = lab.plan.of_kind("mongo")[0]
    client = pymongo.MongoClient(
        f"mongodb://{lab.address(mongo.name)}:{mongo.port}/?directConnection=true", serverSelectionTimeoutMS=5000
    )
    try:
        users = client["halab"]["users"]
        for u in USERS:
            users.replace_one({"_id": u.name}, {"_id": u.name, "name": u.name, "groups": list(u.groups), "role": u.role}, upsert=True)
    finally:
        client.close()


def wait_for_query(lab: "Running", user: str = "alice", timeout_s: float = 60.0) -> httpx.Response:
    """POST a RAG query through the VIP until it answers 200 (the gateways learn their routes
    from etcd and the LBs mark them up asynchronously)."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    with httpx.Client(base_url=lab.state.vip_url, timeout=30, trust_env=False) as http:
        while time.monotonic() < deadline:
            try:
                resp = query(http, lab.consumers[user], "What does the gateway do?")
                if resp.status_code == 200:
                    return resp
                last = f"{resp.status_code} {resp.text[:200]}"
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.5)
    raise RuntimeError(f"no RAG answer through the VIP within {timeout_s:.0f} s (last: {last})")


def query(http: httpx.Client, key: str, question: str) -> httpx.Response:
    return http.post("/rag/query", headers={"apikey": key}, json={"query": question})


def seed_all(lab: "Running", progress: Callable[[str], None] = lambda _m: None) -> None:
    seed_routes(lab)
    progress("routes and consumers in etcd")
    seed_users(lab)
    progress("user profiles in Atlas")
