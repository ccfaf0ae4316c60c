"""HAProxy detection and keepalived failover, from the spec's parameters.

Scenario: no load; at FAULT_AT_S DC2 goes down. HAProxy checks every INTER_S with a
1 s connect timeout and marks a server DOWN after FALL failures: detection takes
U(0, inter) + (fall - 1) * inter + timeout, 5-7 s, 6 s on average over RUNS seeds.
Then the master LB dies: the backup holds the VIP after 3 * advert + skew = 3.61 s.
"""

from __future__ import annotations

import pytest

from harness.scenario import Fault, Load, Scenario
from harness.spec import HealthCheck, preset
from scenarios.checkers import failover
from simulation.params import STARTUP_S
from simulation.run import simulate

RUNS = 40
FAULT_AT_S = 30.0  # seconds
INTER_S, FALL, RISE = 2.0, 3, 2
QUIET = Load.constant(0.0, 120.0)  # no requests: only checks and faults


def test_dc_outage_is_detected_in_about_eleven_seconds_by_the_naive_lb() -> None:
    # Passing checks come every inter (2 s), failing ones every inter + their timeout, which
    # is inter without `timeout check` (4 s): U(0, 2) + 2 * 4 + 2.
    topo = preset("seed").with_params(health=HealthCheck(INTER_S, FALL, RISE, fastinter_s=None, timeout_s=None))
    scenario = Scenario("dc2-down", QUIET, (Fault("site-down", "dc2", FAULT_AT_S, 90.0),))
    detections = []
    for seed in range(RUNS):
        h = simulate(topo, scenario, seed=seed).history()
        (f,) = failover(h, lb="lb1")  # the VIP holder
        detections.append(f.detection_s)
        assert 10.0 <= f.detection_s <= 12.0 + 1e-9
        # Back up once gateway2 is ready again -- started, and its routes loaded from etcd, which
        # needs etcd's leader back -- and has passed `rise` checks, `inter` apart: the checks fail
        # at once by then (its container runs), so the first one that finds it ready comes
        # within one `inter`.
        elected = min(op.time for op in h if op.process == "raft-etcd" and op.f == "leader-elected")
        ready = max(STARTUP_S["gateway"], elected - scenario.faults[0].stop_s)
        assert ready < f.recovery_s <= ready + INTER_S * RISE + 1e-9
    mean = sum(detections) / len(detections)
    print(f"\ndetection over {RUNS} seeds: mean {mean:.2f} s, min {min(detections):.2f}, max {max(detections):.2f}")
    assert mean == pytest.approx(11.0, abs=0.3)


def test_dc_outage_is_detected_in_about_five_seconds_by_the_tuned_lb() -> None:
    # `timeout check` makes a check of a blackholed server fail after the connect timeout (1 s),
    # and `fastinter` brings the next one 0.5 s later: U(0, 2) + 1 + 2 * (0.5 + 1).
    topo = preset("seed")
    scenario = Scenario("dc2-down", QUIET, (Fault("site-down", "dc2", FAULT_AT_S, 90.0),))
    detections = [failover(simulate(topo, scenario, seed=seed).history(), lb="lb1")[0].detection_s
                  for seed in range(RUNS)]
    assert all(4.0 <= d <= 6.0 + 1e-9 for d in detections), detections
    assert sum(detections) / len(detections) == pytest.approx(5.0, abs=0.3)
    assert topo.params.health.detection_s == 6.0  # the spec's worst case agrees with the model's


def test_a_returning_gateway_is_up_within_one_inter_of_ready_on_the_tuned_lb() -> None:
    # Once its container runs again, a check of gateway2 is refused (or its /readyz says 503) at
    # once instead of timing out, so the checks come `inter` apart: the first that finds it
    # ready within 2 s, the second `fastinter` later. Were they still timing out (1 s), the
    # first could come up to inter + timeout after.
    topo = preset("seed")
    scenario = Scenario("dc2-down", QUIET, (Fault("site-down", "dc2", FAULT_AT_S, 90.0),))
    health = topo.params.health
    for seed in range(RUNS):
        h = simulate(topo, scenario, seed=seed).history()
        (f,) = failover(h, lb="lb1")
        elected = min(op.time for op in h if op.process == "raft-etcd" and op.f == "leader-elected")
        ready = max(STARTUP_S["gateway"], elected - scenario.faults[0].stop_s)
        assert ready + health.fastinter_s <= f.recovery_s <= ready + health.inter_s + health.fastinter_s + 1e-9


def test_faster_checks_detect_faster() -> None:
    topo = preset("seed").with_params(health=HealthCheck(1.0, 2, 2))
    scenario = Scenario("dc2-down", QUIET, (Fault("site-down", "dc2", FAULT_AT_S, 90.0),))
    (f,) = failover(simulate(topo, scenario, seed=1).history(), lb="lb1")
    assert 3.0 <= f.detection_s <= 4.0 + 1e-9  # U(0, 1) + 2 + 1


def test_vrrp_moves_the_vip_after_the_master_down_interval() -> None:
    scenario = Scenario("lb1-down", QUIET, (Fault("component-down", "lb1", FAULT_AT_S, 60.0),))
    events = [op for op in simulate(preset("seed"), scenario, seed=1).history() if op.process == "vrrp"]
    took_over = next(op for op in events if op.f == "master" and op.value["lb"] == "lb2")
    assert took_over.time - FAULT_AT_S == pytest.approx(3 + (256 - 100) / 256, abs=1e-6)
    back = next(op for op in events if op.f == "master" and op.value["lb"] == "lb1")
    assert back.time == pytest.approx(60.0)  # the higher priority preempts at once
