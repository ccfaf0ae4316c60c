"""Load benchmarks (`pytest -m benchmark tests/loadtests -s`): they print figures.

- Locust's own ceiling on this machine against a trivial endpoint (tests/loadtests/fake_lab.py),
  one process and two workers: the lab's figures below are known not to be the generator's.
- The highest arrival rate `seed` and `seed+witness` sustain with p95(rag_query) <= 1 s,
  availability >= 99.9 % and no dropped arrival, with the LLM stub at its default latency
  and at zero latency; the busiest containers at the first rate that misses (CPU from their
  cgroups); `halab capacity`'s prediction for the same SLO beside each, with the error.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from fake_lab import FakeServer, write_state

from loadtests.run import LOCUSTFILE

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(3600)]

SLO_S = 1.0
STEP_S = 30.0
RATES = [2, 4, 6, 8, 10, 12, 15, 18, 22, 27, 33, 40, 50, 60, 75, 90, 110]


def _generator_step(tmp_path, server, rate: float, processes: int | None) -> dict:
    state = write_state(tmp_path, server.port)
    out = tmp_path / f"out-{rate:g}-{processes}"
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--halab-state",
           str(state), "--halab-out", str(out), "--halab-rate", str(rate), "--halab-duration", "10",
           "--halab-max-in-flight", "512"] + (["--processes", str(processes)] if processes else [])
    before = server.requests
    subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    s = json.loads((out / "summary.json").read_text())
    ok = s["availability"].get("rag_query", {}).get("ok", 0) / 0.9  # the shapes' mix: 90 % queries
    return {"rate": rate, "achieved": round(ok / 10, 1), "late": s.get("late_starts", 0), "dropped": s["dropped"],
            "max_lag_s": s.get("max_start_lag_s"), "p99_ms": round(s["latency_s"]["rag_query"]["p99"] * 1000, 1),
            "server_rps": round((server.requests - before) / 10, 1)}


@pytest.mark.parametrize("processes", [None, 2], ids=["one-process", "two-workers"])
def test_locust_ceiling_against_a_trivial_endpoint(tmp_path, processes):
    rows = []
    with FakeServer() as server:
        for rate in (250, 500, 1000, 1500, 2000, 3000, 4000):
            row = _generator_step(tmp_path, server, rate, processes)
            rows.append(row)
            print(row)
            if row["dropped"] or row["late"] > rate * 10 * 0.01 or row["achieved"] < 0.97 * rate:
                break
    good = [r["rate"] for r in rows if not r["dropped"] and r["late"] <= r["rate"] * 0.1 and r["achieved"] >= 0.97 * r["rate"]]
    print(f"\nLocust ceiling ({'2 workers' if processes else 'one process'}): {max(good) if good else 'below 250'} arrivals/s "
          f"on time (late <= 1 %, none dropped); the trivial endpoint is one asyncio thread")
    assert rows


def _capacity(topo, zero_llm: bool) -> float | None:
    from simulation.capacity import best_rates, sweep
    from simulation.params import Dist, ModelParams

    params = ModelParams()
    if zero_llm:
        params = params.with_station("llm", service=Dist("const", 0.0))
    n = dataclasses.astuple(topo.params.replicas)[0]
    return best_rates(sweep(topo, [float(r) for r in RATES], [n], SLO_S, duration_s=STEP_S, params=params))[n]


@pytest.mark.docker
@pytest.mark.parametrize("preset", ["seed", "seed+witness"])
def test_sustainable_rate(preset, labs, docker_client, tmp_path):
    from chaos.llm import _admin
    from loadtests.cpu import CpuMeter, lab_containers
    from loadtests.sweep import best, sustainable

    lab = labs.get(preset)
    meter = CpuMeter(lab_containers(docker_client, lab.run_id))
    lines = []
    try:
        for zero in (False, True):
            with _admin(lab.state) as http:
                http.put("/admin/latency", json={"zero": zero}).raise_for_status()
            steps = sustainable(lab, RATES, duration_s=STEP_S, slo_s=SLO_S, out=tmp_path / f"zero-{zero}", meter=meter,
                                on_step=lambda s: print(f"  {s.rate:5g}/s: p95 {s.p95_s * 1000:7.0f} ms, avail "
                                                        f"{s.availability:.4f}, dropped {s.dropped}, busiest "
                                                        f"{list(s.cpu_cores.items())[:3]}"))
            measured, predicted = best(steps), _capacity(lab.plan.topology, zero)
            last = steps[-1]
            error = f"{(predicted - measured) / measured:+.0%}" if measured and predicted else "n/a"
            lines.append(f"{preset}, LLM {'zero' if zero else 'default'} latency: sustained {measured} /s; "
                         f"predicted {predicted} /s ({error}); at {last.rate:g}/s busiest "
                         f"{list(last.cpu_cores.items())[:3]} (cores)")
    finally:
        with _admin(lab.state) as http:
            http.put("/admin/latency", json={"zero": False})
    print("\n" + "\n".join(lines))
    assert lines

