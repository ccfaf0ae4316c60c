"""harness/clients/cpu_demand.py: cgroup counters read (v1 and v2 layouts, from files made
here) and CPU per request computed from them, Docker-free."""

from __future__ import annotations

import pytest

from harness.clients import cpu_demand


def test_both_cgroup_layouts_are_read_in_seconds(tmp_path, monkeypatch) -> None:
    v1 = tmp_path / "v1" / "abc" / "cpuacct.usage"
    v1.parent.mkdir(parents=True)
    v1.write_text("2500000000\n")
    v2 = tmp_path / "v2" / "def" / "cpu.stat"
    v2.parent.mkdir(parents=True)
    v2.write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")
    monkeypatch.setattr(cpu_demand, "_V1", str(tmp_path / "v1" / "{id}" / "cpuacct.usage"))
    monkeypatch.setattr(cpu_demand, "_V2", (str(tmp_path / "v2" / "{id}" / "cpu.stat"),))
    assert cpu_demand.cpu_seconds("abc") == 2.5
    assert cpu_demand.cpu_seconds("def") == 1.5
    with pytest.raises(FileNotFoundError, match="no cgroup CPU counter for container ghi"):
        cpu_demand.cpu_seconds("ghi")


def test_idle_burn_is_taken_off_and_kinds_are_summed() -> None:
    kinds = {"gateway1-x": "gateway", "gateway2-x": "gateway", "rag1-x": "rag", "toxiproxy-x": "toxiproxy"}
    used = {"gateway1-x": 1.0, "gateway2-x": 0.6, "rag1-x": 2.0, "toxiproxy-x": 0.1}
    idle = {"gateway1-x": 0.2, "gateway2-x": 0.2, "rag1-x": 0.0, "toxiproxy-x": 0.3}  # more idle than used: none
    assert cpu_demand.per_request(used, idle, 100, kinds) == {"gateway": 0.012, "rag": 0.02, "toxiproxy": 0.0}
    assert cpu_demand.per_request(used, idle, 0, kinds) == {}
