"""harness/topology without Docker: names, ports, aliases, WAN routes, configs, state."""

from __future__ import annotations

import doctest
import json
import stat

import pytest

import harness.topology.crossings as crossings_mod
import harness.topology.plan as plan_mod
import harness.topology.wan as wan_mod
from harness.spec import preset
from harness.topology import state as st
from harness.topology.components.lb import haproxy_cfg, keepalived_conf
from harness.topology.crossings import crossings
from harness.topology.plan import Plan
from harness.topology.wan import aliases_by_site, wan_routes

PRESETS = ("seed", "seed+witness")


@pytest.mark.parametrize("module", [plan_mod, wan_mod, crossings_mod])
def test_doctests(module) -> None:
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("name", PRESETS)
def test_no_alias_is_a_container_name(name: str) -> None:
    plan = Plan.of(preset(name), "r1")
    containers = {p.container for p in plan.placements} | {plan.wan_container, plan.ingress_container}
    aliases = {a for p in plan.placements for a in p.aliases}
    aliases |= {a for names in aliases_by_site(wan_routes(plan)).values() for a in names}
    assert len(containers) == len(plan.placements) + 2
    assert not containers & aliases


@pytest.mark.parametrize("name", PRESETS)
def test_aliases_unique_per_network(name: str) -> None:
    plan = Plan.of(preset(name), "r1")
    proxy_aliases = aliases_by_site(wan_routes(plan))
    for site in plan.topology.sites:
        names = [a for p in plan.on_site(site.name) for a in p.aliases] + proxy_aliases.get(site.name, [])
        assert len(names) == len(set(names)), f"{site.name}: {names}"


@pytest.mark.parametrize("name", PRESETS)
def test_one_listen_port_per_proxy_on_each_client_network(name: str) -> None:
    routes = wan_routes(Plan.of(preset(name), "r1"))
    seen = [(r.client_site, r.port) for r in routes]
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("name", PRESETS)
def test_every_crossing_has_a_proxy_and_every_proxy_crosses_sites(name: str) -> None:
    topo = preset(name)
    plan = Plan.of(topo, "r1")
    routes = wan_routes(plan)
    by_key = {(r.client_site, r.server) for r in routes}
    for x in crossings(topo):
        assert (x.client_site, x.server) in by_key
    for r in routes:
        assert r.client_site != r.server_site and r.carries
        assert topo.link(r.client_site, r.server_site) is not None, f"{r.name} crosses no link of the spec"
        assert r.upstream == f"{plan[r.server].container}:{r.port}"


def test_seed_proxies_are_the_architectures_connections() -> None:
    routes = wan_routes(Plan.of(preset("seed"), "r1"))
    names = {r.name for r in routes}
    assert {"edge__gateway1_http", "edge__gateway2_http"} <= names  # LB -> gateways
    assert {"dc1__etcd2_peer", "dc2__etcd1_peer"} <= names  # etcd peers
    assert {"dc1__vault2_cluster", "dc2__vault1_api"} <= names  # OpenBao Raft
    assert {"dc1__vectordb2_http", "dc2__vectordb1_http"} <= names  # replication, rag failover
    assert {"dc1__mongo_mongo", "dc2__llm_http", "dc1__gateway2_http"} <= names
    assert {"dc1__etcd2_client", "dc2__etcd1_client"} <= names  # etcd clients fail over to the other member
    assert len(routes) == 18


def test_proxies_carry_the_spec_link_latency() -> None:
    topo = preset("seed")
    for r in wan_routes(Plan.of(topo, "r1")):
        link = topo.link(r.client_site, r.server_site)
        assert (r.latency_ms, r.jitter_ms) == (link.latency_ms, link.jitter_ms)


def test_site_local_names_share_a_port() -> None:
    plan = Plan.of(preset("seed"), "r1")
    assert plan.site_local("rag") == "rag:8000" and plan.site_local("opa") == "opa:8181"
    with pytest.raises(ValueError):
        plan.site_local("gateway")  # reached across the WAN: a port of its own per DC


def test_witness_holds_voters_only() -> None:
    plan = Plan.of(preset("seed+witness"), "r1")
    assert {p.kind for p in plan.on_site("witness")} == {"etcd", "vault", "vectordb"}
    routes = wan_routes(plan)
    assert {r.server for r in routes if r.client_site == "witness"} == {
        "etcd1", "etcd2", "vault1", "vault2", "vectordb1", "vectordb2"}


def test_lb_configs_follow_the_spec() -> None:
    plan = Plan.of(preset("seed"), "r1")
    cfg = haproxy_cfg(plan)
    assert "server gateway1 gateway1:8000 check inter 2s fall 3 rise 2" in cfg
    assert "retries 2" in cfg and "option redispatch" in cfg and "timeout connect 1s" in cfg
    ka = keepalived_conf(plan, plan["lb1"], "10.0.0.254", 24)
    assert "priority 150" in ka and "advert_int 1" in ka and "@PEER_lb2@" in ka and "10.0.0.254/24" in ka


def test_state_round_trip_keeps_secrets_out(tmp_path) -> None:
    secrets_dir = st.private_dir("r1")
    try:
        assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
        st.write_secret(secrets_dir, "unseal_key", "s3cret")
        assert stat.S_IMODE((secrets_dir / "unseal_key").stat().st_mode) == 0o600
        state = st.State("r1", "seed", "auto", 0.0, "http://127.0.0.1:1", "10.0.0.254", "http://x:8474",
                         str(secrets_dir), components={"etcd1": {"address": "10.0.0.2", "ports": {"client": 2379}}})
        path = tmp_path / "t.json"
        st.save(state, path)
        assert "s3cret" not in path.read_text()
        loaded = st.load(path)
        assert loaded.url("etcd1") == "http://10.0.0.2:2379" and loaded.secret("unseal_key") == "s3cret"
        assert json.loads(path.read_text())["run_id"] == "r1"
        st.forget(path)
        assert not path.exists() and not secrets_dir.exists()
    finally:
        import shutil

        shutil.rmtree(secrets_dir, ignore_errors=True)


class _NoImages:
    class images:
        @staticmethod
        def get(tag):
            import docker.errors

            raise docker.errors.ImageNotFound(tag)


def test_offline_source_names_the_build_command_for_a_missing_image() -> None:
    from harness.images import ImageNotBuilt
    from harness.topology.sources import resolver

    with pytest.raises(ImageNotBuilt, match="halab images build etcd"):
        resolver(_NoImages(), "offline")("etcd")
    with pytest.raises(ValueError):
        resolver(_NoImages(), "nightly")


def test_private_dirs_of_one_run_or_all_are_removed() -> None:
    a, b = st.private_dir("runA"), st.private_dir("runB")
    try:
        assert st.remove_private_dirs("runA") == 1 and not a.exists() and b.exists()
    finally:
        import shutil

        shutil.rmtree(b, ignore_errors=True)


def test_a_spec_with_more_than_one_replica_is_refused_not_shrunk() -> None:
    from harness.spec import Replicas, SpecError

    topo = preset("seed").with_params(replicas=Replicas(rag=2))
    with pytest.raises(SpecError, match=r"replicas rag=2: the harness realises one instance per node"):
        Plan.of(topo, run_id="t")
    assert Plan.of(preset("seed"), run_id="t")["rag1"].site == "dc1"
