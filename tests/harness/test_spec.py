"""harness/spec: presets, look-ups, validation errors and the even-quorum warning."""

from __future__ import annotations

import dataclasses
import doctest

import pytest

import harness.spec as spec
from harness.spec import Component, Link, Node, QuorumWarning, Site, SpecError, Topology, preset


def test_doctests() -> None:
    assert doctest.testmod(spec).failed == 0


def test_seed_is_the_architecture() -> None:
    t = preset("seed")
    assert [s.name for s in t.sites] == ["edge", "dc1", "dc2", "external"]
    for dc in ("dc1", "dc2"):
        kinds = {n.role: sorted(c.kind for c in n.components) for n in t.site(dc).nodes}
        assert kinds == {
            "app": sorted(["gateway", "cms", "opa", "policy_sync", "rag"]),
            "data": sorted(["etcd", "vault", "vectordb"]),
        }
    assert {c.kind for c in t.site("external").components} == {"mongo", "llm"}
    assert len(t.components_of("lb")) == 2
    assert t.app_sites() == ("dc1", "dc2")
    assert t.site_of("etcd2") == "dc2" and t.node_of("rag1") == "dc1-app"
    assert t.link("dc1", "dc2") is not None and t.link("dc1", "dc1") is None


def test_witness_adds_a_third_voter_of_each_quorum_kind() -> None:
    t = preset("seed+witness")
    assert {c.kind for c in t.site("witness").components} == {"etcd", "vault", "vectordb"}
    for kind in ("etcd", "vault", "vectordb"):
        assert len(t.components_of(kind)) == 3 and t.quorum_tolerance(kind) == 1
    assert t.warnings == []


def test_even_quorum_group_warns_with_tolerance() -> None:
    t = preset("seed")
    with pytest.warns(QuorumWarning) as record:
        messages = spec.validate(t)
    # etcd and OpenBao; the vector store is leaderless (harness/kinds.py) and needs no majority.
    assert len(messages) == len(record) == 2
    assert not any(m.startswith("vectordb") for m in messages)
    assert "etcd: 2 voters (an even number) need a majority of 2, so they tolerate 0 failure(s)" in messages[0]


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(SpecError, match=r"unknown preset 'seed3'.*seed, seed\+witness"):
        preset("seed3")


def _one_site(*components: Component, links=(), name="dc1") -> Topology:
    return Topology("t", (Site(name, (Node("n", "app", components),)),), tuple(links))


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(SpecError, match=r"'db1' has unknown kind 'postgres'"):
        _one_site(Component("g1", "gateway"), Component("db1", "postgres"))


def test_duplicate_names_are_errors() -> None:
    with pytest.raises(SpecError, match=r"duplicate component name\(s\): g1"):
        _one_site(Component("g1", "gateway"), Component("g1", "gateway"))


def test_link_to_unknown_site_is_an_error() -> None:
    with pytest.raises(SpecError, match=r"unknown site 'dc9'"):
        _one_site(Component("g1", "gateway"), links=[Link("dc1", "dc9")])


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(SpecError) as info:
        _one_site(Component("x", "nope"), Component("x", "nope"), links=[Link("dc1", "dc1")])
    message = str(info.value)
    assert "duplicate" in message and "unknown kind" in message and "itself" in message and "no gateway" in message


def test_sites_that_talk_need_a_link() -> None:
    t = preset("seed")
    no_wan = tuple(lk for lk in t.links if not lk.joins("dc1", "dc2"))
    with pytest.raises(SpecError, match=r"'dc1' and 'dc2' talk to each other but no link"):
        dataclasses.replace(t, links=no_wan)


def test_specs_are_frozen_and_params_replaceable() -> None:
    t = preset("seed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.name = "x"  # type: ignore[misc]
    faster = t.with_params(health=spec.HealthCheck(inter_s=1.0, fall=2))
    # Worst case: inter to the first check, then `fall` checks failing after the connect timeout, fastinter apart.
    assert faster.params.health.detection_s == 3.5 and t.params.health.detection_s == 6.0


def test_vrrp_failover_matches_design_measurement() -> None:
    # DESIGN section 5: advert 1 s, backup priority 100 -> 3.61 s in theory (3.55 s measured).
    assert spec.Vrrp().failover_s(100) == pytest.approx(3.609, abs=1e-3)
