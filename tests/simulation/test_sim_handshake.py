"""The connection HAProxy opens per request under `option http-server-close` (params.TCP_CONNECT_RTTS,
TLS_HANDSHAKE_RTTS, TLS_HANDSHAKE_S): each request pays its round trips across the LB's link and
the handshake's work; kept-alive connections (the naive LB) pay nothing.

Topology: `seed` with the edge's links at EDGE_MS one way and no jitter, so that a round trip
there is 2 * EDGE_MS exactly; RPS requests per second for DURATION_S, no fault, SEED.
"""

from __future__ import annotations

import dataclasses
import statistics

from harness.scenario import Load, Scenario
from harness.spec import Topology, preset
from simulation.params import ModelParams
from simulation.run import simulate

EDGE_MS = 10.0
RTT_S = 2 * EDGE_MS / 1000.0
RPS, DURATION_S, SEED = 20.0, 30.0, 3
NO_SETUP = ModelParams(tcp_connect_rtts=0, tls_handshake_rtts=0, tls_handshake_s=0.0)


def far_edge(name: str = "seed") -> Topology:
    topo = preset(name)
    links = tuple(dataclasses.replace(lk, latency_ms=EDGE_MS, jitter_ms=0.0) if "edge" in (lk.a, lk.b) else lk
                  for lk in topo.links)
    return dataclasses.replace(topo, links=links)


def latencies(topo: Topology, params: ModelParams) -> dict[int, float]:
    r = simulate(topo, Scenario("t", Load.constant(RPS, DURATION_S), ()), params, seed=SEED)
    return {op.process: op.latency for op in r.completions() if op.type == "ok"}


def growth(topo: Topology, params: ModelParams, base: ModelParams = NO_SETUP) -> float:
    """The median, over requests, of how much longer each took with `params` than with `base`."""
    a, b = latencies(topo, base), latencies(topo, params)
    assert len(a) > 0.9 * RPS * DURATION_S and a.keys() == b.keys()
    return statistics.median(b[rid] - a[rid] for rid in a)


def test_a_tls_handshake_adds_a_round_trip_across_the_lbs_link() -> None:
    topo = far_edge()
    tcp = dataclasses.replace(NO_SETUP, tcp_connect_rtts=1)
    tls = dataclasses.replace(tcp, tls_handshake_rtts=1)
    assert abs(growth(topo, tcp) - RTT_S) < 1e-3
    assert abs(growth(topo, tls, base=tcp) - RTT_S) < 1e-3


def test_the_handshakes_work_adds_its_time() -> None:
    slow = dataclasses.replace(NO_SETUP, tls_handshake_s=0.05)
    assert abs(growth(far_edge(), slow) - 0.05) < 1e-3


def test_the_defaults_cost_tcp_and_tls_round_trips_and_the_measured_work() -> None:
    p = ModelParams()
    assert (p.tcp_connect_rtts, p.tls_handshake_rtts) == (1, 1) and 0 < p.tls_handshake_s < 0.01
    assert abs(growth(far_edge(), p) - (2 * RTT_S + p.tls_handshake_s)) < 1e-3


def test_kept_alive_connections_pay_nothing() -> None:
    naive = far_edge("seed+naive-lb")
    assert latencies(naive, ModelParams(tls_handshake_s=0.05)) == latencies(naive, NO_SETUP)


def test_a_params_file_sets_the_handshake(tmp_path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"tls_handshake_s": 0.002, "tls_handshake_rtts": 2, "tcp_connect_rtts": 0}')
    p = ModelParams.load(path)
    assert (p.tls_handshake_s, p.tls_handshake_rtts, p.tcp_connect_rtts) == (0.002, 2, 0)
