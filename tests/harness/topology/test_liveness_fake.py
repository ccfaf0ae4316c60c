"""The WAN liveness follower's logic with a fake Docker client and netns recorded, not run:
a death drops a component's WAN listeners, a start makes them refuse until the component
listens, and the WAN container's end ends the follower."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from harness.spec import preset
from harness.topology import liveness
from harness.topology import state as st
from harness.topology.plan import Plan
from harness.topology.wan import wan_routes


class FakeDocker:
    """Containers by name, each with a status and one address per network."""

    def __init__(self, statuses: dict[str, str], networks: dict[str, str]) -> None:
        self.statuses = statuses
        nets = {net: {"IPAddress": f"10.0.{i}.9"} for i, net in enumerate(networks.values())}
        self.containers = SimpleNamespace(get=lambda name: SimpleNamespace(
            status=self.statuses.get(name, "running"), attrs={"NetworkSettings": {"Networks": nets}}))


@pytest.fixture
def follower(monkeypatch):
    plan = Plan.of(preset("seed"), "unit")
    networks = {s.name: f"net-{s.name}" for s in plan.topology.sites}
    components = {p.name: {"kind": p.kind, "site": p.site, "container": p.container} for p in plan.placements}
    state = st.State(run_id="unit", preset="seed", source="auto", started_at=0.0, vip_url="", vip_address="",
                     toxiproxy_api="", secrets_dir="", networks=networks, components=components)
    chain: list[list[str]] = []
    monkeypatch.setattr(liveness.netns, "pid_of", lambda client, name: 42)
    monkeypatch.setattr(liveness.netns, "add", lambda pid, rule, c: chain.append(rule))
    monkeypatch.setattr(liveness.netns, "delete", lambda pid, rule, c: chain.remove(rule) is None)
    monkeypatch.setattr(liveness.netns, "ensure_chain", lambda pid, c: None)
    monkeypatch.setattr(liveness.netns, "flush", lambda pid, c: chain.clear())
    listening = {"now": False}
    monkeypatch.setattr(liveness, "_accepts", lambda ip, port: listening["now"])
    monkeypatch.setattr(liveness, "LISTEN_POLL_S", 0.01)
    docker = FakeDocker({}, networks)
    f = liveness.Follower(state, wan_routes(plan), plan.wan_container, docker)
    return SimpleNamespace(f=f, chain=chain, plan=plan, docker=docker, listening=listening)


def _event(container: str, action: str) -> dict:
    return {"Action": action, "Actor": {"Attributes": {"name": container}}}


def test_a_dead_gateway_drops_its_listeners_then_refuses_until_it_listens(follower):
    gw2 = follower.plan["gateway2"].container
    follower.f.follow([_event(gw2, "die")])
    drops = list(follower.chain)
    # Clients on the edge (the LBs) and in DC1 (RAG's hairpin) dial gateway2 through the WAN.
    assert drops and all("DROP" in r for r in drops)
    assert {r[r.index("--dport") + 1] for r in drops if "--dport" in r} == {str(follower.plan["gateway2"].port)}
    follower.f.follow([_event(gw2, "start")])
    assert follower.chain and all(("REJECT" in r) != ("ACCEPT" in r) for r in follower.chain)
    assert sum("REJECT" in r for r in follower.chain) == len(drops) // 2  # one refusal per listener
    follower.listening["now"] = True
    deadline = time.monotonic() + 2
    while follower.chain and time.monotonic() < deadline:
        time.sleep(0.01)
    assert follower.chain == []


def test_a_paused_container_is_a_frozen_host_and_a_stopped_process_is_not(follower):
    gw2 = follower.plan["gateway2"].container
    follower.f.follow([_event(gw2, "kill")])  # the nemesis's SIGSTOP: a grey failure, left alone
    assert follower.chain == []
    follower.f.follow([_event(gw2, "pause")])
    assert follower.chain and all("DROP" in r for r in follower.chain)
    follower.listening["now"] = True
    follower.f.follow([_event(gw2, "unpause")])
    deadline = time.monotonic() + 2
    while follower.chain and time.monotonic() < deadline:
        time.sleep(0.01)
    assert follower.chain == []


def test_a_second_death_while_starting_keeps_it_dead(follower):
    etcd2 = follower.plan["etcd2"].container
    follower.f.follow([_event(etcd2, "die"), _event(etcd2, "start"), _event(etcd2, "die")])
    follower.listening["now"] = True
    time.sleep(0.1)  # the first start's wait sees a newer event and gives up
    assert follower.chain and all("DROP" in r for r in follower.chain)


def test_a_start_of_a_component_never_seen_dead_changes_nothing(follower):
    follower.f.follow([_event(follower.plan["gateway1"].container, "start")])
    assert follower.chain == []


def test_the_wan_containers_end_ends_the_follower_and_other_events_are_ignored(follower):
    events = [_event("someone-else", "die"), _event(follower.plan.wan_container, "die"),
              _event(follower.plan["gateway2"].container, "die")]
    follower.f.follow(iter(events))
    assert follower.chain == []


def test_reconcile_marks_what_is_not_running_dead(follower):
    follower.docker.statuses[follower.plan["etcd2"].container] = "exited"
    follower.f.reconcile()
    assert follower.chain and all("DROP" in r for r in follower.chain)
    assert follower.f.rules.keys() == {"etcd2"}
