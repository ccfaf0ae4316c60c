"""The typed lab (harness/topology/lab.py, state.Component): what `up` and `attach` return has
every member the protocols name, and the typed view of a component leaves the state file's
format as it was."""

from __future__ import annotations

import dataclasses
import json

from harness.topology import state as st
from harness.topology.lab import Lab, StartedLab
from harness.topology.realise import Running


def _members(protocol: type) -> set[str]:
    return {n for cls in protocol.__mro__ if cls not in (object,) and cls.__name__ != "Protocol"
            for n in vars(cls) if not n.startswith("_")}


def test_running_has_every_member_of_the_lab_protocols() -> None:
    have = {f.name for f in dataclasses.fields(Running)} | set(dir(Running))
    assert _members(StartedLab) <= _members(Lab)
    assert _members(Lab) - have == set()
    assert {"plan", "state", "consumers", "url", "run_id", "state_file", "routes", "wan", "docker", "address"} <= _members(Lab)


def _state(tmp_path) -> st.State:
    record = {"kind": "vault", "site": "dc2", "node": "dc2-n1", "container": "vault2-abc", "aliases": ["vault2", "vault"],
              "ports": {"api": 8200, "cluster": 8201}, "address": "10.0.2.5"}
    return st.State("r1", "seed", "offline", 1.0, "https://127.0.0.1:1", "10.9.0.2", "", str(tmp_path),
                    components={"vault2": record, "etcd1": {**record, "kind": "etcd", "site": "dc1"}})


def test_a_component_reads_as_typed_fields(tmp_path) -> None:
    s = _state(tmp_path)
    c = s.component("vault2")
    assert (c.name, c.kind, c.site, c.node, c.container, c.aliases, dict(c.ports), c.address) == (
        "vault2", "vault", "dc2", "dc2-n1", "vault2-abc", ("vault2", "vault"), {"api": 8200, "cluster": 8201}, "10.0.2.5")
    assert [c.name for c in s.of_kind("etcd")] == ["etcd1"]
    assert [c.name for c in s.all_components()] == ["vault2", "etcd1"]
    assert hash(c) == hash(s.component("vault2"))


def test_set_address_shows_in_later_views_and_the_file_keeps_its_format(tmp_path) -> None:
    s = _state(tmp_path)
    before = s.component("vault2")
    s.set_address("vault2", "10.0.2.9")
    assert (before.address, s.component("vault2").address) == ("10.0.2.5", "10.0.2.9")
    path = tmp_path / "state.json"
    st.save(s, path)
    on_disk = json.loads(path.read_text())["components"]["vault2"]
    assert on_disk == {"kind": "vault", "site": "dc2", "node": "dc2-n1", "container": "vault2-abc", "aliases": ["vault2", "vault"],
                       "ports": {"api": 8200, "cluster": 8201}, "address": "10.0.2.9"}
    assert st.load(path) == s
