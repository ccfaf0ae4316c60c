"""env_for without Docker: every etcd client is given every member, its own site's first."""

from __future__ import annotations

import pytest

from harness.spec import preset
from harness.topology.components.context import Context
from harness.topology.components.services import declared, env_for
from harness.topology.plan import Plan
from system.common.settings import split_endpoints


@pytest.mark.parametrize("name", ["seed", "seed+witness"])
def test_etcd_clients_get_every_member_local_first(name):
    plan = Plan.of(preset(name), "t")
    ctx = Context(plan, networks={}, image=lambda c: c)
    members = plan.of_kind("etcd")
    assert len(members) == (3 if name == "seed+witness" else 2)
    clients = [p for p in plan.placements if p.kind in ("cms", "policy_sync", "gateway")]
    assert {p.kind for p in clients} == {"cms", "policy_sync", "gateway"}
    for p in clients:
        env = env_for(ctx, p)
        local = plan.local("etcd", p.site)
        expected = [local, *(m for m in members if m.name != local.name)]
        want = [m.url("client") if p.kind == "gateway" else m.hostport("client") for m in expected]
        assert split_endpoints(env["etcd_endpoint"]) == want, p.name
        assert declared(p.kind, env)["etcd_endpoint"] == env["etcd_endpoint"]
