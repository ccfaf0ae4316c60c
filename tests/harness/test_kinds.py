"""The kind table is the one description of a kind: everything else is derived from it."""

from __future__ import annotations

from harness import kinds, spec
from harness.images.catalog import COMPONENTS
from harness.topology.components import RECIPES
from harness.topology.plan import DEFAULT_PORTS


def test_every_kind_has_an_image_a_recipe_and_ports() -> None:
    for k in kinds.KINDS.values():
        assert k.image in COMPONENTS, k.name
        assert k.name in RECIPES, k.name
        assert DEFAULT_PORTS[k.name] == dict(k.ports)
        assert k.probe.role in (*k.ports, "monitor"), k.name


def test_peer_roles_name_ports_of_the_kind() -> None:
    for k in kinds.KINDS.values():
        assert set(k.peer_roles) <= set(k.ports), k.name
        assert bool(k.peer_roles) == k.replicated, k.name


def test_only_raft_kinds_are_quorum_kinds() -> None:
    assert spec.QUORUM_KINDS == ("etcd", "vault")
    assert kinds.KINDS["vectordb"].replication == "leaderless"
    assert set(spec.KINDS) == set(kinds.KINDS)


def test_unknown_kind_names_the_known_ones() -> None:
    import pytest

    with pytest.raises(KeyError, match="known: lb, gateway"):
        kinds.kind("kafka")


def test_fault_targets_refuse_names_the_preset_lacks() -> None:
    import pytest

    from harness.faults import TargetError, resolve
    from harness.spec import preset

    with pytest.raises(TargetError, match="sites: edge, dc1, dc2, external"):
        resolve(preset("seed"), "partition", "dc1,witness")
    assert sorted(resolve(preset("seed+witness"), "partition", "witness").directed) == [
        ("dc1", "witness"), ("dc2", "witness"), ("witness", "dc1"), ("witness", "dc2")]
    assert resolve(preset("seed"), "component-down", "vault").components == ("vault1", "vault2")
    assert resolve(preset("seed"), "node-crash", "dc1-data").components == ("etcd1", "vault1", "vectordb1")


def test_images_and_checks_come_from_the_table() -> None:
    from harness import containers
    from harness.images.catalog import IMAGES

    for k in (*kinds.KINDS.values(), *kinds.INSTRUMENTS):
        c = COMPONENTS[k.image]
        assert (c.image, c.official, c.health) == (k.built, k.official, k.health), k.name
        assert k.built in IMAGES, k.name
        assert k.container is None or hasattr(containers, k.container), k.name
    assert set(COMPONENTS) == {k.image for k in (*kinds.KINDS.values(), *kinds.INSTRUMENTS)}


def test_containers_and_image_command_lines_listen_on_the_tables_ports() -> None:
    import re

    from harness import containers
    from harness.containers import bao, etcd
    from harness.images.catalog import IMAGES

    table = (*kinds.KINDS.values(), *kinds.INSTRUMENTS)
    for k in table:
        if k.container:
            assert getattr(containers, k.container).port == next(iter(k.ports.values())), k.name
    assert (etcd.CLIENT_PORT, etcd.PEER_PORT) == (kinds.KINDS["etcd"].ports["client"], kinds.KINDS["etcd"].ports["peer"])
    assert (bao.PORT, bao.CLUSTER_PORT) == (kinds.KINDS["vault"].ports["api"], kinds.KINDS["vault"].ports["cluster"])
    for k in table:
        cmd = " ".join(getattr(IMAGES[k.built].recipe, "cmd", ()) or ())
        named = {int(p) for p in re.findall(r"(?:^|[\s:])(\d{2,5})\b", cmd)}
        assert named <= set(k.ports.values()), f"{k.built}'s command line names {named}, the table {dict(k.ports)}"
