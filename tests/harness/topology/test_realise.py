"""harness.topology.realise.up without Docker: its phases run in order on fake containers,
networks and WAN, and a failure in any of them removes what the run started."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from harness.spec import preset
from harness.topology import realise
from harness.topology import state as st

KINDS = frozenset({"etcd", "gateway"})  # no OpenBao, no LB: nothing past the fakes below


class FakeContainer:
    port = 8474

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def start(self) -> FakeContainer:
        self.log.append(f"start {self.name}")
        return self

    def address(self, network: str) -> str:
        return f"10.0.0.1@{network}"

    def health(self) -> dict:
        return {"health": "true"}


class FakeWan:
    def __init__(self, api_url: str, routes) -> None:
        self.api_url = api_url

    def populate(self, listen) -> None:
        pass


class FakeNetwork:
    def __init__(self, name: str) -> None:
        self.name = name


@pytest.fixture
def fakes(monkeypatch, tmp_path):
    log: list[str] = []
    monkeypatch.setattr(realise, "resolver", lambda client, source: lambda name: log.append(f"image {name}") or name)
    monkeypatch.setattr(realise, "create_site_networks",
                        lambda client, plan: {s.name: FakeNetwork(f"net-{s.name}") for s in plan.topology.sites})
    monkeypatch.setattr(realise, "create_publish_network", lambda client, plan: FakeNetwork("publish"))
    monkeypatch.setattr(realise, "free_high_address", lambda net: ("10.0.0.250", 24))
    monkeypatch.setattr(realise.wan_recipe, "container", lambda ctx, routes: FakeContainer("wan", log))
    monkeypatch.setattr(realise, "WanLink", FakeWan)
    monkeypatch.setattr(realise.liveness, "start", lambda state, state_file: log.append("liveness") or 0)
    monkeypatch.setattr(realise.etcd_tls, "enable_auth", lambda *a: log.append("etcd auth"))
    monkeypatch.setattr(realise, "RECIPES", {k: (lambda ctx, p: FakeContainer(p.name, log)) for k in realise.RECIPES})
    removed: list[str | None] = []
    monkeypatch.setattr(realise, "remove_all", lambda client, run_id: removed.append(run_id) or (0, 0, 0))
    return log, removed, tmp_path / "topology.json"


def test_up_runs_its_phases_in_order_and_saves_the_state(fakes) -> None:
    log, removed, state_file = fakes
    said: list[str] = []
    lab = realise.up(preset("seed"), run_id="unit-1", state_file=state_file, client=object(), kinds=KINDS,
                     progress=said.append)
    try:
        etcd = [p.name for p in lab.plan.of_kind("etcd")]
        gateways = [p.name for p in lab.plan.of_kind("gateway")]
        first_start = next(i for i, line in enumerate(log) if line.startswith("start "))
        assert "image toxiproxy" in log[:first_start] and not any(line.startswith("image ") for line in log[first_start:])
        starts = [line.removeprefix("start ") for line in log if line.startswith("start ")]
        assert starts[0] == "wan" and sorted(starts[1:-len(gateways)]) == sorted(etcd)
        assert sorted(starts[-len(gateways):]) == sorted(gateways)
        assert list(lab.state.timings) == [
            "networks", f"wan: {len(lab.routes)} proxies", "etcd cluster healthy, its users and roles set",
            f"{1 + len(etcd) + len(gateways)} containers healthy", "liveness", "up",
        ]
        assert log[-1] == "liveness"  # the WAN follows the containers once the lab is whole
        assert [m.split("] ", 1)[1] for m in said] == list(lab.state.timings)
        assert set(lab.state.components) == set(etcd) | set(gateways) and lab.state.vip_url == ""
        saved = st.load(state_file)
        assert saved.run_id == "unit-1" and saved.timings == lab.state.timings
        assert sorted(lab.consumers) == sorted(realise.seeding.new_consumers()) and removed == []
    finally:
        st.remove_private_dirs("unit-1")


@pytest.mark.parametrize("failing, starter, state_left", [
    ("_networks", False, "someone-else"),  # before the starts: nothing in flight to join
    ("_bootstrap", True, "someone-else"),
    ("_seed", True, None),  # this run's state file was written: it goes
])
def test_a_failed_phase_removes_everything_the_run_started(fakes, monkeypatch, failing, starter, state_left) -> None:
    _log, removed, state_file = fakes

    def boom(*_args):
        raise RuntimeError(f"{failing} failed")

    monkeypatch.setattr(realise, failing, boom)
    other = st.State(run_id="someone-else", preset="seed", source="auto", started_at=0.0, vip_url="",
                     vip_address="", toxiproxy_api="", secrets_dir="")
    st.save(other, state_file)
    said: list[str] = []
    with pytest.raises(RuntimeError, match=f"{failing} failed"):
        realise.up(preset("seed"), run_id="unit-2", state_file=state_file, client=object(), kinds=KINDS,
                   progress=said.append)
    # remove_all once, and once more after the in-flight starts were joined
    assert removed == ["unit-2"] * (2 if starter else 1)
    assert said[-1] == "start-up failed: removing everything this run started"
    assert not list(Path(tempfile.gettempdir()).glob(f"{st.SECRETS_PREFIX}unit-2-*"))
    left = st.load(state_file)
    assert (left.run_id if left else None) == state_left
