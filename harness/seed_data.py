"""The lab's seed data: users and their groups, the sample corpus. Plain data (Docker-free):
`halab up` seeds it (harness/topology/seeding.py), the measuring clients and Locust pick
users and questions from it, the model needs none of it.

    >>> [u.name for u in USERS if u.role == "user"], len(CORPUS)
    (['alice', 'bob', 'erin'], 5)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    role: str  # "user" | "admin" | "service"


USERS = (
    User("alice", ("staff", "engineering"), "user"),
    User("bob", ("staff",), "user"),
    User("erin", ("staff", "editors"), "user"),
    User("admin", ("ops",), "admin"),
    # The RAG service's own identity for the hairpin call back through the gateway.
    User("rag-service", ("service",), "service"),
)
SERVICE_CONSUMER = "rag-service"
HARNESS_AUTHOR = "halab-harness"


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    acl_groups: tuple[str, ...]
    text: str


CORPUS = (
    Document("gateway-role", "What the gateway does", ("staff",),
             "The gateway plays APISIX's role: it authenticates every request with key-auth, asks OPA "
             "whether the consumer may make it, and proxies it to the CMS, the RAG service or the LLM API. "
             "It reads its routes from etcd and keeps serving from the last configuration it saw."),
    Document("policy-path", "How a policy update propagates", ("staff",),
             "An admin publishes Rego through the CMS. The CMS writes the metadata to MongoDB, then the raw "
             "policy to etcd; policy_sync watches etcd and loads it into OPA in every datacenter."),
    Document("quorum", "Why two datacenters lose quorum", ("engineering",),
             "A two-member etcd or Raft cluster needs both members for a majority: losing either datacenter "
             "stops writes. A witness site with a third voter lets one site fail."),
    Document("vault-key", "The LLM key in Vault", ("engineering",),
             "The gateway fetches the LLM API key from Vault (OpenBao) with AppRole and caches it; a Vault read "
             "on every LLM call would make Vault a hard dependency of every query."),
    Document("ops-runbook", "Failover runbook", ("ops",),
             "keepalived moves the VIP between the two HAProxy nodes in about three and a half seconds; HAProxy "
             "marks a gateway down after three failed checks two seconds apart."),
)
