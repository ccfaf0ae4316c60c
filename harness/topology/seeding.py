"""Seed a started topology: routes and consumers in etcd, user profiles in "Atlas", the
default policy set through the CMS, a sample corpus through the RAG ingest; then one RAG
query through the VIP proves the path end to end.

The consumers' API keys are made per run (new_consumers) and kept in the run's private
secrets directory, never in the state file.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

import httpx

import harness.topology.trust as trust
from harness.seed_data import CORPUS, HARNESS_AUTHOR, SERVICE_CONSUMER, USERS
from harness.topology.lab import StartedLab
from harness.topology.plan import Plan
from harness.waiting import Pending, eventually
from system.common.identity import Asserted


def new_consumers() -> dict[str, str]:
    return {u.name: secrets.token_urlsafe(18) for u in USERS}


def dump_consumers(consumers: dict[str, str]) -> str:
    return json.dumps(consumers, indent=2)


def service_env(plan: Plan, consumers: dict[str, str]) -> dict[str, dict[str, str]]:
    """Per-component settings that come from seeding: the RAG service's gateway key."""
    return {p.name: {"gateway_api_key": consumers[SERVICE_CONSUMER]} for p in plan.of_kind("rag")}


def seed_routes(lab: StartedLab) -> int:
    """Routes, the secret manager and consumers through the first gateway's Admin API, as an
    APISIX user's scripts would write them; returns etcd's revision after the last write."""
    from system.gateway.seed import PREFIX, ConsumerSpec, consumer_entries, default_routes

    plan = lab.plan
    t = plan.topology.params.timeouts
    routes = default_routes(
        upstream_timeout_s=t.upstream_s,
        llm_timeout_ms=int(t.llm_s * 1000),
        rag_nodes=[plan.site_local("rag")],
        cms_nodes=[plan.site_local("cms")],
        llm_endpoint=plan.nearest("llm", plan.of_kind("gateway")[0].site).url(),
        opa_url=f"{plan.scheme('opa')}://{plan.site_local('opa')}",
        scheme=plan.scheme("rag"),
    )
    consumers = [ConsumerSpec(u.name, lab.consumers[u.name], u.groups, u.role) for u in USERS]
    entries = {**routes, **consumer_entries(consumers)}
    revision = 0
    with trust.component(lab.state, plan.of_kind("gateway")[0].name, "admin", timeout=10,
                         headers={"X-API-KEY": lab.state.secret("gateway_admin_key")}) as http:
        for key, value in entries.items():
            path = "/apisix/admin" + key.removeprefix(PREFIX)
            resp = eventually(lambda p=path, v=value: _admin_put(http, p, v), 30, poll_s=0.2, retry=(httpx.HTTPError,),
                              error=lambda w, p=path: RuntimeError(f"Admin API refused {p}: {w.last}"))
            revision = max(revision, resp.json()["modifiedIndex"])
    return revision


def _admin_put(http: httpx.Client, path: str, value: dict) -> httpx.Response | Pending:
    resp = http.put(path, json=value)
    if resp.status_code in (200, 201):
        return resp
    if resp.status_code == 400:  # the gateways could not serve it: no use retrying
        raise RuntimeError(f"Admin API refused {path}: {resp.text[:300]}")
    return Pending(f"{resp.status_code} {resp.text[:200]}")


def _cms(lab: StartedLab) -> httpx.Client:
    """The first DC's CMS, directly (before the default policy exists, the gateway lets no one in)."""
    cms = lab.plan.of_kind("cms")[0]
    return trust.component(lab.state, cms.name, timeout=30, auth=Asserted(lab.state.secret("identity_key"),
                                                                          HARNESS_AUTHOR))


def seed_users(lab: StartedLab) -> None:
    """User profiles through the CMS's users API (it writes them to Atlas, where RAG reads them)."""
    with _cms(lab) as cms:
        for u in USERS:
            if u.role == "service":  # a consumer of the gateway, not a person with a profile
                continue
            cms.put(f"/cms/users/{u.name}", json={"groups": list(u.groups), "role": u.role}).raise_for_status()


def seed_policy(lab: StartedLab) -> dict:
    """The default policy set through the first DC's CMS, waiting until its OPA enforces it."""
    from system.cms.seed import seed

    cms = lab.plan.of_kind("cms")[0]
    with trust.component(lab.state, cms.name, timeout=30) as http:
        return seed(lab.url(cms.name), admin=HARNESS_AUTHOR, wait_enforced=True, client=http,
                    identity_key=lab.state.secret("identity_key"))[0]


def seed_corpus(lab: StartedLab) -> int:
    """The sample corpus through the first DC's RAG ingest; replication carries it to the others."""
    rag = lab.plan.of_kind("rag")[0]
    with trust.component(lab.state, rag.name, timeout=60,
                         auth=Asserted(lab.state.secret("identity_key"), HARNESS_AUTHOR)) as http:
        for d in CORPUS:
            body = {"doc_id": d.doc_id, "title": d.title, "acl_groups": list(d.acl_groups), "text": d.text}
            http.post("/documents", json=body).raise_for_status()
    return len(CORPUS)


def wait_for_query(lab: StartedLab, user: str = "alice", timeout_s: float = 60.0) -> httpx.Response:
    """POST a RAG query through the VIP until it answers 200 (the gateways learn their routes
    from etcd and the LBs mark them up asynchronously)."""
    with trust.vip(lab.state, timeout=30) as http:

        def answered() -> httpx.Response | Pending:
            resp = query(http, lab.consumers[user], "What does the gateway do?")
            return resp if resp.status_code == 200 else Pending(f"{resp.status_code} {resp.text[:200]}")

        return eventually(answered, timeout_s, poll_s=0.5, retry=(httpx.HTTPError,),
                          error=lambda w: RuntimeError(f"no RAG answer through the VIP within {timeout_s:.0f} s (last: {w.last})"))


def query(http: httpx.Client, key: str, question: str) -> httpx.Response:
    return http.post("/rag/query", headers={"apikey": key}, json={"question": question})


def seed_all(lab: StartedLab, progress: Callable[[str], None] = lambda _m: None) -> None:
    seed_routes(lab)
    progress("routes and consumers in etcd")
    seed_policy(lab)
    progress("default policy through the CMS, enforced")
    seed_users(lab)
    progress("user profiles through the CMS")
    seed_corpus(lab)
    progress(f"{len(CORPUS)} documents through the RAG ingest")
    wait_for_query(lab)
    progress("a RAG query through the VIP answered")
