"""The nemesis's logic without Docker: rules, the ledger, route selection, the schedule (with
a fake nemesis that only records), and the verdicts of the expectations."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

from chaos import ledger, network
from chaos.schedule import Schedule
from harness import netns
from harness.faults import resolve
from harness.history import Op, event
from harness.scenario import Fault
from harness.spec import preset
from harness.topology.plan import Plan
from harness.topology.wan import wan_routes
from scenarios.checkers.verdict import compose
from scenarios.expect import Expect, verdicts


def test_a_blackholed_listener_drops_both_directions_and_a_refusal_resets():
    drop = netns.drop_listener("10.0.0.2", 2390)
    assert drop == [["-d", "10.0.0.2", "-p", "tcp", "--dport", "2390", "-j", "DROP"],
                    ["-s", "10.0.0.2", "-p", "tcp", "--sport", "2390", "-j", "DROP"]]
    reject, its_reset = netns.drop_listener("10.0.0.2", 2390, "REJECT")
    assert reject[-3:] == ["REJECT", "--reject-with", "tcp-reset"]
    assert its_reset[-5:] == ["--tcp-flags", "RST", "RST", "-j", "ACCEPT"]  # past the follower's blackhole
    loss = netns.drop_listener("10.0.0.2", 80, "LOSS:0.3")
    assert all(["-m", "statistic", "--mode", "random", "--probability", "0.3"] == r[6:12] for r in loss)


def test_the_ledger_keeps_faults_across_processes(tmp_path: Path):
    state_file = tmp_path / "topology.json"
    f = ledger.ActiveFault("f1", "site-down", "dc2", undo=[{"do": "start", "components": ["etcd2"]}])
    ledger.add(state_file, f)
    ledger.add(state_file, ledger.ActiveFault("f2", "partition", "dc1,dc2"))
    assert [x.id for x in ledger.load(state_file)] == ["f1", "f2"]
    assert ledger.load(state_file)[0].undo == f.undo
    ledger.remove(state_file, "f1")
    assert [x.id for x in ledger.load(state_file)] == ["f2"]
    ledger.clear(state_file)
    assert ledger.load(state_file) == []


def test_a_one_way_cut_selects_only_that_sides_proxies():
    topo = preset("seed")
    lab = SimpleNamespace(routes=wan_routes(Plan.of(topo, "t")))
    one_way = network.routes_on(lab, resolve(topo, "partition", "dc1->dc2").directed)
    both = network.routes_on(lab, resolve(topo, "partition", "dc1,dc2").directed)
    assert one_way and all(r.client_site == "dc1" and r.server_site == "dc2" for r in one_way)
    assert {r.client_site for r in both} == {"dc1", "dc2"} and len(both) > len(one_way)
    # A dead DC: every proxy whose server lives there, from every client site.
    dead = network.routes_to(lab, [c.name for c in topo.site("dc2").components])
    assert {r.client_site for r in dead} == {"edge", "dc1"}


class FakeNemesisRecording:
    """A fake for the schedule's timing: records when each fault would start and stop."""

    def __init__(self, now):
        self.now, self.calls, self.lock = now, [], threading.Lock()

    def start(self, kind, target, options):
        with self.lock:
            self.calls.append(("start", kind, round(self.now(), 2)))
        return (kind, target)

    def stop(self, active):
        with self.lock:
            self.calls.append(("stop", active[0], round(self.now(), 2)))


def test_the_schedule_starts_and_stops_faults_on_the_runs_clock():
    t0 = time.monotonic()
    now = lambda: time.monotonic() - t0
    fake = FakeNemesisRecording(now)
    faults = (Fault("partition", "dc1,dc2", 0.05, 0.15), Fault("llm-hang", "", 0.10, None))
    with Schedule(fake, faults, now):
        time.sleep(0.3)
    kinds = [(c[0], c[1]) for c in fake.calls]
    assert kinds == [("start", "partition"), ("start", "llm-hang"), ("stop", "partition"), ("stop", "llm-hang")]
    assert abs(fake.calls[0][2] - 0.05) < 0.05 and abs(fake.calls[2][2] - 0.15) < 0.05


class FakeNemesisSlowStart(FakeNemesisRecording):
    """A fake whose starts take `start_s` (a restart waiting for its node to be back in the LB)."""

    def __init__(self, now, start_s):
        super().__init__(now)
        self.start_s = start_s

    def start(self, kind, target, options):
        active = super().start(kind, target, options)
        time.sleep(self.start_s)
        with self.lock:
            self.calls.append(("started", kind, round(self.now(), 2)))
        return active


def test_a_gated_fault_waits_for_the_one_before_it_to_have_started():
    t0 = time.monotonic()
    now = lambda: time.monotonic() - t0
    fake = FakeNemesisSlowStart(now, start_s=0.3)
    faults = (Fault("restart", "dc1-app", 0.0, 0.05), Fault("restart", "dc2-app", 0.1, 0.15, gated=True))
    with Schedule(fake, faults, now):
        time.sleep(0.9)
    starts = [c[2] for c in fake.calls if c[0] == "start"]
    started = [c[2] for c in fake.calls if c[0] == "started"]
    # dc2-app does not go down at 0.1 s but once dc1-app's start returned (0.3 s)...
    assert starts[1] >= started[0] > 0.25
    # ...and its stop keeps its 0.05 s distance from its delayed start.
    stops = [c[2] for c in fake.calls if c[0] == "stop"]
    assert stops[-1] >= started[1]


def test_an_ungated_fault_keeps_its_time_whatever_the_one_before_it_takes():
    t0 = time.monotonic()
    now = lambda: time.monotonic() - t0
    fake = FakeNemesisSlowStart(now, start_s=0.3)
    faults = (Fault("restart", "dc1-app", 0.0, 0.05), Fault("restart", "dc2-app", 0.1, 0.15))
    with Schedule(fake, faults, now):
        time.sleep(0.9)
    starts = [c[2] for c in fake.calls if c[0] == "start"]
    assert starts[1] < 0.2


def test_expectations_judge_a_history():
    acked = Op(1, "ok", "policy_update", {"policy": "p", "version": 2, "sha256": "a"}, 1.0, 0.2)
    reads = [event("final", "policy-read", {"policy": "p", "store": s, "version": 2, "sha256": "a"}, 5.0)
             for s in ("mongo", "etcd1", "etcd2", "opa1", "opa2")]
    done = event("final", "converged", {"converged": True, "after_heal_s": 1.0}, 5.0)
    queries = [Op(i, "ok" if i % 10 else "fail", "rag_query", time=i * 0.1, latency=0.5) for i in range(1, 101)]
    history = [acked, *queries, *reads, done]
    assert compose(verdicts(history, Expect(availability={"rag_query": 0.85}))) is True
    assert compose(verdicts(history, Expect(availability={"rag_query": 0.95}))) is False
    stale = [*history[:-2], event("final", "policy-read", {"policy": "p", "store": "opa2", "sha256": "old"}, 5.0), done]
    judged = {v.name: v.valid for v in verdicts(stale, Expect())}
    assert judged["opa-converged"] is False and judged["no-lost-updates"] is True


def test_a_refused_key_after_a_rotation_breaks_the_bound():
    from scenarios.checkers.invariants import key_rotation_bound

    rotation = event("nemesis", "key-rotation", {"target": "", "phase": "start"}, 10.0)
    fine = [event("llm", "keys", {"accepted_previous_key": 0, "rejected": 0}, 1.0), rotation,
            event("llm", "keys", {"accepted_previous_key": 4, "rejected": 0}, 12.0)]
    assert key_rotation_bound(fine).valid is True and key_rotation_bound(fine).figures["last_old_key_use_s"] == 2.0
    refused = [*fine, event("llm", "keys", {"accepted_previous_key": 4, "rejected": 3}, 50.0)]
    assert key_rotation_bound(refused).valid is False
    assert key_rotation_bound([rotation]).valid == "unknown"
