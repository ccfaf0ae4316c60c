"""The propagation benchmark's rows, predicted: etcd commits at the row's rate (or one at a
time, each waiting for every DC), through the model's watch, policy_sync and OPA, and the
delay from commit to loaded per DC. Also the fit that turns the benchmark's own figures into
the model's parameters (`put_curve` and the policy_sync station).

    rows = json.load(open("reports/out/propagation.json"))["rows"]
    params = fit(rows)
    predict(preset("seed"), params, policies=100, rate="10", updates=50)
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from typing import Any

from harness.spec import Topology
from simulation.model import Model
from simulation.params import Dist, ModelParams


def predict(topo: Topology, params: ModelParams, *, policies: int, rate: str, updates: int,
            seed: int = 0, path: str = "rego") -> dict[str, list[float]]:
    """Seconds from commit to loaded, per site, for `updates` commits at `rate` ("seq" or per
    second), each a Rego module (`path` "rego") or a policy document ("data")."""
    params = replace(params, policies=policies)
    m = Model(topo, params, seed=seed)
    env, sites = m.env, list(m.policy.syncs)

    def writer():
        for _ in range(updates):
            revision = m.policy.commit(env.now + m.etcd.commit_rtt, m.etcd.leader, data=path == "data")
            if rate == "seq":
                while any(m.policy.syncs[s].loaded < revision for s in sites):
                    yield env.timeout(0.001)
            else:
                yield env.timeout(1.0 / float(rate))

    env.process(writer())
    env.run(until=3600)
    out: dict[str, list[float]] = {s: [] for s in sites}
    for op in m.events:
        if op.process == "policy_sync" and op.f == "policy-loaded":
            out[op.value["site"]].append(op.value["delay_s"])
    return out


def fit(rows: list[dict[str, Any]], base: ModelParams | None = None) -> ModelParams:
    """One activation's cost from the benchmark's sequential rows of 1 KB policies: the share
    past the bare watch (policy_sync + OPA's download and activation + one decision poll), median over both DCs, per
    policy count -- the curve the model interpolates. The spread is the largest row's (there
    the activation outweighs the poll and the watch): p99 is 2.326 sigmas above the median, and the
    mean the model draws from at one policy is its median * exp(sigma^2 / 2). The data path's
    write (`data_put_s`) is the same share of the sequential data rows, median over them all:
    it does not grow with the policies loaded (no compile)."""
    base = base or ModelParams()
    seq = sorted((r for r in rows if r["rate"] == "seq" and r["size"] == "1k" and r.get("path", "rego") == "rego"),
                 key=lambda r: r["policies"])
    if len({r["policies"] for r in seq}) < 2 or seq[0]["policies"] != 1:
        raise ValueError("the fit needs sequential 1k rows at one policy and at one more policy count")
    share = lambda r, q: statistics.median(r[site]["decision_after_watch"][q] for site in ("dc1", "dc2") if site in r)
    curve = tuple((r["policies"], share(r, "p50_ms") / 1000) for r in seq)
    largest = seq[-1]
    sigma = math.log(max(1.0, share(largest, "p99_ms") / max(1e-6, share(largest, "p50_ms")))) / 2.326
    service = Dist("lognormal", max(1e-4, curve[0][1]) * math.exp(sigma ** 2 / 2),
                   max(0.05, math.sqrt(math.exp(sigma ** 2) - 1)))
    data = [share(r, "p50_ms") / 1000 for r in rows if r["rate"] == "seq" and r.get("path") == "data"]
    return replace(base.with_station("policy_sync", service=service), put_curve=curve,
                   data_put_s=statistics.median(data) if data else base.data_put_s, source="propagation benchmark fit")
