"""Dead is dead, however it died: containers killed with `docker kill`, not through the nemesis,
under an open-loop stream of RAG queries through the VIP on one keep-alive client.

Through Toxiproxy a dead server looked alive (the proxy accepts, then fails upstream), so each
query sent to it waited `timeout server`: 46 of 320 queries hung 60 s after DC2 was killed.
The WAN's liveness follower (harness/topology/liveness.py) makes the dead one's listeners drop
packets, as a dead host's do, and the tuned LB (spec.LbTuning) bounds what is left. Figures
are printed. At most 5 % fail, and no query waits past the LB's flow timeout and one retry:
a query HAProxy sends on a pooled connection opened to the gateway before it died waits that
timeout (6 s) as it would in production, then is retried on DC1 (a CI run: 1 of 236, 6.7 s).
So the issue's 5 s bound holds for every query but those, which stay rare."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from dataclasses import dataclass

import httpx
import pytest

from chaos.nemesis import Nemesis, wait_healthy
from harness.spec import preset

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(400)]
RATE = 10.0  # queries per second
KILL_AT_S, END_S = 6.0, 30.0
HUNG_S = 5.0


@dataclass
class Query:
    intended_s: float
    latency_s: float
    ok: bool
    outcome: str


def stream_with_a_kill(lab, containers: list[str], seed: int = 7) -> list[Query]:
    """Poisson arrivals, a thread each (an arrival never waits for an earlier one: no
    coordinated omission), every container killed at KILL_AT_S; returns the queries started
    after the kill."""
    user = sorted(lab.consumers)[0]
    client = httpx.Client(base_url=lab.state.vip_url, timeout=70.0, headers={"apikey": lab.consumers[user]},
                          limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
    queries: list[Query] = []
    t0 = time.monotonic()

    def one(intended: float) -> None:
        start = time.monotonic()
        try:
            r = client.post("/rag/query", json={"question": "what is the refund policy?"})
            ok, outcome = r.status_code == 200, str(r.status_code)
        except httpx.HTTPError as exc:
            ok, outcome = False, type(exc).__name__
        queries.append(Query(intended, time.monotonic() - start, ok, outcome))

    def kill() -> None:
        time.sleep(KILL_AT_S)
        subprocess.run(["docker", "kill", *containers], capture_output=True, timeout=30, check=True)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    rng, t, threads = random.Random(seed), 0.0, []
    with client:
        while (t := t + rng.expovariate(RATE)) < END_S:
            while time.monotonic() - t0 < t:
                time.sleep(0.002)
            threads.append(threading.Thread(target=one, args=(t,), daemon=True))
            threads[-1].start()
        for th in threads:
            th.join(timeout=90)
    killer.join()
    return [q for q in queries if q.intended_s >= KILL_AT_S]


def report(what: str, after: list[Query]) -> tuple[int, int, float]:
    hung = sum(q.latency_s >= HUNG_S for q in after)
    failed = [q for q in after if not q.ok]
    longest = max(q.latency_s for q in after)
    print(f"\n{what}: {len(after)} queries after the kill, {hung} took >= {HUNG_S:g} s, {len(failed)} failed "
          f"({sorted({q.outcome for q in failed})}), longest {longest:.1f} s; failed (s after the kill, "
          f"s taken): {[(round(q.intended_s - KILL_AT_S, 1), round(q.latency_s, 1)) for q in failed]}")
    return hung, len(failed), longest


@pytest.mark.parametrize("target", ["dc2", "gateway2"])
def test_a_kill_outside_the_nemesis_leaves_no_query_hanging(seed_lab, target):
    names = [n for n, c in seed_lab.state.components.items() if target in (c["site"], n)]
    containers = [seed_lab.state.components[n]["container"] for n in names]
    try:
        after = stream_with_a_kill(seed_lab, containers)
    finally:
        Nemesis(seed_lab).heal_all()  # starts what is stopped
        wait_healthy(seed_lab)
    hung, failed, longest = report(f"{target} killed ({len(containers)} containers)", after)
    flow_timeout_s = preset("seed").params.lb.flow_timeout_s
    assert longest < flow_timeout_s + 2.0  # the timeout, then one retry on DC1
    assert hung <= 0.02 * len(after)  # pooled connections only (without the follower: 53 of 326 hung 60 s)
    assert failed <= 0.05 * len(after)
