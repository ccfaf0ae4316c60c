"""An M/M/c station of the model against Erlang C, and against simpy.Resource draw for draw.

Scenario: Poisson arrivals at ARRIVAL_RATE per second reach one Station with SERVERS
servers and exponential service of mean SERVICE_MEAN_S (utilisation 0.75). Queueing theory
(Erlang C) gives the probability that an arrival waits and the mean wait; the model's
station must match both within 5%. A second check feeds the same arrivals and service
times to a simpy.Resource: every wait must be identical, since the Station is meant to be
exactly that FCFS queue, computed without Resource events.
"""

from __future__ import annotations

import random

import simpy

from simulation.analytic import erlang_c
from simulation.components import Station
from simulation.params import Dist

SEED = 42
ARRIVAL_RATE = 15.0  # arrivals per second
SERVICE_MEAN_S = 0.15  # seconds per customer
SERVERS = 3
CUSTOMERS = 300_000
WARM_UP = 5_000  # customers left out of the statistics while the queue fills


def run_station() -> tuple[float, float]:
    env = simpy.Environment()
    rng = random.Random(SEED)
    station = Station("mmc", "test", "dc1", SERVERS, Dist("exp", SERVICE_MEAN_S).sampler(random.Random(SEED + 1)))
    stats = {"n": 0, "waited": 0, "wait_sum": 0.0}

    def arrivals():
        for i in range(CUSTOMERS):
            yield env.timeout(rng.expovariate(ARRIVAL_RATE))
            before_waits, before_sum = station.waits, station.wait_sum
            station.visit(env.now)
            if i >= WARM_UP:
                stats["n"] += 1
                stats["waited"] += station.waits - before_waits
                stats["wait_sum"] += station.wait_sum - before_sum

    env.process(arrivals())
    env.run()
    return stats["waited"] / stats["n"], stats["wait_sum"] / stats["n"]


def erlang_figures() -> tuple[str, float, float]:
    p_wait, mean_wait = erlang_c(SERVERS, ARRIVAL_RATE, SERVICE_MEAN_S)
    sim_p_wait, sim_mean_wait = run_station()
    err_p = abs(sim_p_wait - p_wait) / p_wait
    err_w = abs(sim_mean_wait - mean_wait) / mean_wait
    text = (f"Erlang C (M/M/{SERVERS}, utilisation {ARRIVAL_RATE * SERVICE_MEAN_S / SERVERS:.2f}, "
            f"{CUSTOMERS:,} customers): P(wait) {p_wait:.4f} vs model {sim_p_wait:.4f} (error {err_p:.2%}); "
            f"mean wait {mean_wait * 1000:.2f} ms vs model {sim_mean_wait * 1000:.2f} ms (error {err_w:.2%})")
    return text, err_p, err_w


def test_mmc_station_matches_erlang_c() -> None:
    text, err_p, err_w = erlang_figures()
    print("\n" + text)
    assert err_p < 0.05
    assert err_w < 0.05


def test_station_is_the_fcfs_queue_simpy_resource_gives() -> None:
    n = 20_000
    rng = random.Random(SEED)
    gaps = [rng.expovariate(ARRIVAL_RATE) for _ in range(n)]
    services = [rng.expovariate(1 / SERVICE_MEAN_S) for _ in range(n)]

    # The reference: a simpy.Resource, one process per customer.
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=SERVERS)
    ref_waits = [0.0] * n

    def customer(i: int):
        arrived = env.now
        with server.request() as req:
            yield req
            ref_waits[i] = env.now - arrived
            yield env.timeout(services[i])

    def source():
        for i in range(n):
            yield env.timeout(gaps[i])
            env.process(customer(i))

    env.process(source())
    env.run()

    # The model's station, fed the same gaps and service times.
    it = iter(services)
    station = Station("mmc", "test", "dc1", SERVERS, lambda: next(it))
    now, waits = 0.0, []
    for i in range(n):
        now += gaps[i]
        end = station.visit(now)
        waits.append(end - services[i] - now)
    assert max(abs(a - b) for a, b in zip(waits, ref_waits)) < 1e-9


def test_abandonment_past_the_timeout_holds_no_server() -> None:
    station = Station("s", "test", "dc1", 1, Dist("const", 10.0).sampler(random.Random(0)), timeout_s=5.0)
    assert station.visit(0.0) == 10.0
    assert station.visit(1.0) == -1.0  # would wait 9 s > 5 s: gives up
    assert station.visit(6.0) == 20.0  # waits 4 s: the abandoned one took no server time
    assert station.abandoned == 1
