"""Benchmark: how fast an etcd put changes the OPA decision in each DC of the seed lab, as the
loaded policies, the update rate and the policy size grow. Prints a table and writes JSON;
asserts only that every update arrived (a propagation that never ends is a failure, a slow one
a figure).

    python -m pytest -m benchmark -s tests/system/policy_sync/test_propagation_benchmark.py
    HALAB_PROPAGATION_ROWS=1:1k:seq,100:1k:10:data ...   (count:size:rate[:path], rate `seq` or
    per second; path `rego` (default: each update a new version of a Rego module, so a bundle
    activation) or `data` (each update a JSON document the hot modules read, through OPA's Data API))

The put goes to DC1's etcd member from the host; DC2's member has it after Raft replication
across the WAN proxy. Per DC: a bare watch on the member (the floor: nothing in that DC can
know sooner), and OPA's decision polled back to back (what a request would see). policy_sync
and OPA are the lab's own containers.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from propagation import HOT, DecisionPoller, Put, WatchFloor, hot_id, hot_package, reading_rego, rego, spread

from harness.topology import etcd_tls, trust
from loadtests.cpu import CpuMeter
from system.common.etcd import connect

pytestmark = [pytest.mark.docker, pytest.mark.benchmark, pytest.mark.timeout(3600)]

DEFAULT_ROWS = ("1:1k:seq,10:1k:seq,10:1k:10,100:1k:seq,100:1k:10,100:1k:100,1000:1k:seq,1000:1k:10,1000:1k:100,"
                "1:1k:seq:data,100:1k:10:data,1000:1k:seq:data,1000:1k:10:data,1000:1k:100:data")
SIZES = {"1k": 1024, "64k": 65536}
OPEN_LOOP_S = 5.0
SEQUENTIAL = 30
DRAIN_S = 120.0
OUT = Path(os.environ.get("HALAB_PROPAGATION_OUT", "reports/out/propagation.json"))


def rows() -> list[tuple[int, str, str, str]]:
    spec = os.environ.get("HALAB_PROPAGATION_ROWS", DEFAULT_ROWS)
    out = []
    for r in spec.split(","):
        n, size, rate, *path = r.split(":")
        out.append((int(n), size, rate, path[0] if path else "rego"))
    return out


class Bench:
    def __init__(self, lab, es: ExitStack) -> None:
        st = lab.state
        self.etcd = connect(st.url("etcd1", "client"), tls=etcd_tls.root_tls(st.secrets_dir, "etcd1"))
        es.callback(self.etcd.close)
        self.state = st
        self.sync = {dc: es.enter_context(trust.component(st, f"policy_sync{i}", timeout=30))
                     for i, dc in ((1, "dc1"), (2, "dc2"))}
        self.floor = {dc: es.enter_context(WatchFloor(st.url(f"etcd{i}", "client"),
                                                      tls=etcd_tls.root_tls(st.secrets_dir, f"etcd{i}")))
                      for i, dc in ((1, "dc1"), (2, "dc2"))}
        self.opa1 = es.enter_context(trust.component(st, "opa1", timeout=30))
        self.cpu_of = {n: c.get_wrapped_container().id for n, c in lab.containers.items()
                       if n.startswith(("opa", "policy_sync"))}
        self.loaded: tuple[int, str, str] | None = None
        self.value = 0

    def revision_loaded(self, dc: str) -> int:
        return self.sync[dc].get("/status").json()["revision"]

    def activation(self, dc: str) -> dict:
        """OPA's own timers of its last bundle activation, as its status plugin reported them."""
        timers = self.sync[dc].get("/status").json().get("bundle", {}).get("opa_timers_ms", {})
        return {k: timers[k] for k in ("rego_module_parse", "rego_module_compile", "rego_load_bundles",
                                       "bundle_request") if k in timers}

    def sample_lags(self, lags: dict[str, int]) -> None:
        """Keep in `lags` the largest lag in revisions each DC's policy_sync has reported."""
        for dc, sync in self.sync.items():
            lags[dc] = max(lags[dc], sync.get("/status").json()["lag"]["revisions"])

    def wait_loaded(self, revision: int, timeout_s: float) -> float:
        t0 = time.monotonic()
        while any(self.revision_loaded(dc) < revision for dc in self.sync):
            if time.monotonic() - t0 > timeout_s:
                raise AssertionError(f"policy_sync not at revision {revision} within {timeout_s:.0f} s: "
                                     f"{ {dc: self.revision_loaded(dc) for dc in self.sync} }")
            time.sleep(0.05)
        return time.monotonic() - t0

    def clear(self) -> None:
        for prefix in ("/policies/hot-", "/policies/ballast-", "/policies/data/hot-"):
            self.etcd.delete_prefix(prefix)

    def load(self, count: int, size: str, path: str) -> float:
        """Make the prefix hold `count` policies of `size` (min(count, HOT) hot; on the data path
        each hot one reads its document); seconds it took both DCs' OPAs to load them."""
        self.clear()
        revision = 0
        hot = min(count, HOT)
        for j in range(hot):
            if path == "data":
                self.etcd.put(f"/policies/data/{hot_id(j)}", json.dumps({"value": 0}))
                module = reading_rego(hot_package(j), hot_id(j), SIZES[size])
            else:
                module = rego(hot_package(j), 0, SIZES[size])
            revision = self.etcd.put(f"/policies/{hot_id(j)}", module).header.revision
        for k in range(count - hot):
            revision = self.etcd.put(f"/policies/ballast-p{k}",
                                     rego(f"halab.ballast.p{k}", 0, SIZES[size])).header.revision
        took = self.wait_loaded(revision, DRAIN_S * 4)
        self.loaded = (count, size, path)
        return took

    def put(self, j: int, size: str, path: str) -> Put:
        self.value += 1
        if path == "data":
            key, value = f"/policies/data/{hot_id(j)}", json.dumps({"value": self.value})
        else:
            key, value = f"/policies/{hot_id(j)}", rego(hot_package(j), self.value, SIZES[size])
        started = time.perf_counter()
        r = self.etcd.put(key, value)
        return Put(j, self.value, r.header.revision, started, time.perf_counter())

    def opa_put_alone(self, size: str, n: int = 5) -> dict:
        """The OPA PUT of one more policy, straight from the host: its wall time and OPA's own
        parse + compile time, with everything the row loaded in place."""
        walls, compiles = [], []
        url = "/v1/policies/bench-probe"
        for i in range(n):
            t0 = time.perf_counter()
            r = self.opa1.put(url, params={"metrics": "true"}, content=rego("halab.probe", i, SIZES[size]))
            walls.append(time.perf_counter() - t0)
            m = r.json().get("metrics", {})
            compiles.append((m.get("timer_rego_module_compile_ns", 0) + m.get("timer_rego_module_parse_ns", 0)) / 1e9)
        self.opa1.delete(url)
        return {"wall": spread(walls), "compile": spread(compiles)}


def run_row(b: Bench, count: int, size: str, rate: str, path: str) -> dict:
    load_s = b.load(count, size, path) if b.loaded != (count, size, path) else None
    hot = min(count, HOT)
    with (DecisionPoller(trust.component(b.state, "opa1", timeout=10)) as p1,
          DecisionPoller(trust.component(b.state, "opa2", timeout=10)) as p2):
        pollers = {"dc1": p1, "dc2": p2}
        for _ in range(3):  # warm-up: every path once
            w = b.put(0, size, path)
            for p in pollers.values():
                p.expect(w)
            _drain(pollers, DRAIN_S)
        meter = CpuMeter(b.cpu_of)
        meter.start()
        puts, lags = [], {dc: 0 for dc in b.sync}
        t_start = time.perf_counter()
        if rate == "seq":
            for i in range(SEQUENTIAL):
                puts.append(_send(b, pollers, i % hot, size, path))
                missing = _drain(pollers, DRAIN_S, lags, b)
                if any(missing.values()):
                    break
        else:
            per_s = float(rate)
            for i in range(int(per_s * OPEN_LOOP_S)):
                # open loop: the schedule does not wait for the system, so a backlog shows
                due = t_start + i / per_s
                while (now := time.perf_counter()) < due:
                    time.sleep(min(0.002, due - now))
                puts.append(_send(b, pollers, i % hot, size, path))
                if i % max(1, int(per_s / 10)) == 0:
                    b.sample_lags(lags)
            missing = _drain(pollers, DRAIN_S, lags, b)
        cores = meter.cores()
        wall = time.perf_counter() - t_start
    row = {"policies": count, "size": size, "rate": rate, "path": path, "updates": len(puts), "wall_s": round(wall, 2),
           "load_s": None if load_s is None else round(load_s, 2), "commit": spread([p.acked - p.started for p in puts]),
           "cpu_cores": cores, "lag_revisions_max": lags, "not_loaded_after_drain": missing, "opa_put_alone": b.opa_put_alone(size),
           "activations": {dc: b.sync[dc].get("/status").json().get("bundle", {}).get("activations") for dc in b.sync},
           "last_activation_ms": {dc: b.activation(dc) for dc in b.sync}}
    for dc, poller in pollers.items():
        floor, decided = b.floor[dc].arrivals.at, poller.arrivals.at
        row[dc] = {
            "floor_watch": spread([floor[p.revision] - p.started for p in puts if p.revision in floor]),
            "decision": spread([decided[p.revision] - p.started for p in puts if p.revision in decided]),
            "decision_after_ack": spread([decided[p.revision] - p.acked for p in puts if p.revision in decided]),
            "decision_after_watch": spread([decided[p.revision] - floor[p.revision] for p in puts
                                            if p.revision in floor and p.revision in decided]),
            "poll": spread(poller.poll_s[-200:]),
            "poll_errors": poller.errors[:5] + ([f"... {len(poller.errors)} in all"] if len(poller.errors) > 5 else []),
        }
    return row


def _send(b: Bench, pollers: dict, j: int, size: str, path: str) -> Put:
    put = b.put(j, size, path)
    for p in pollers.values():
        p.expect(put)
    return put


def _drain(pollers: dict, timeout_s: float, lags: dict | None = None, b: Bench | None = None) -> dict[str, int]:
    """Wait until every DC's OPA shows every update; what is still missing after `timeout_s`."""
    t0 = time.monotonic()
    while any(p.outstanding() for p in pollers.values()) and time.monotonic() - t0 < timeout_s:
        if lags is not None and b is not None:
            b.sample_lags(lags)
        time.sleep(0.005)
    return {dc: p.outstanding() for dc, p in pollers.items()}


def _line(r: dict) -> str:
    d1, d2 = r["dc1"], r["dc2"]
    f = lambda s: f"{s['p50_ms']:>7.1f} {s['p99_ms']:>7.1f} {s['max_ms']:>7.1f}"
    cpu = " ".join(f"{n}={c:.2f}" for n, c in r["cpu_cores"].items())
    return (f"{r['policies']:>5} {r['size']:>4} {r['rate']:>4} {r.get('path', 'rego'):>4} {r['updates']:>4} | commit {r['commit']['p50_ms']:>6.1f} | "
            f"dc1 floor {f(d1['floor_watch'])} decision {f(d1['decision'])} | "
            f"dc2 floor {f(d2['floor_watch'])} decision {f(d2['decision'])} | "
            f"OPA PUT {r['opa_put_alone']['wall']['p50_ms']:>6.1f} (compile {r['opa_put_alone']['compile']['p50_ms']:>6.1f}) | "
            f"activation {_activation(r)} | "
            f"lag {max(r['lag_revisions_max'].values()):>3} | cpu {cpu}"
            + ("" if r["load_s"] is None else f" | loaded in {r['load_s']:.1f} s") + f" | load {r['load_average']}"
            + (f" | NOT LOADED {r['not_loaded_after_drain']}" if any(r["not_loaded_after_drain"].values()) else ""))


def _activation(r: dict) -> str:
    t = r.get("last_activation_ms", {}).get("dc1") or {}
    return f"parse {t.get('rego_module_parse', 0):.1f} compile {t.get('rego_module_compile', 0):.1f}"


def _cms_stopped(lab, es: ExitStack) -> None:
    """The CMS owns the policy prefix: its reconciler adopts a key written without it and then
    rewrites every later put back to the adopted content (MongoDB wins). The benchmark writes
    etcd directly, so the CMS is stopped while it runs and started again after."""
    for name, c in lab.containers.items():
        if name.startswith("cms"):
            container = c.get_wrapped_container()
            container.stop(timeout=5)
            es.callback(container.start)


def test_propagation_grows_with_the_work(seed_lab):
    results = []
    head = (f"halab propagation benchmark ({time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} cores); "
            "ms p50 p99 max from the put's start; floor = a bare etcd watch on that DC's member")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as es:
        _cms_stopped(seed_lab, es)
        b = Bench(seed_lab, es)
        try:
            for count, size, rate, path in rows():
                row = run_row(b, count, size, rate, path)
                row["load_average"] = round(os.getloadavg()[0], 1)  # the figures move with it
                results.append(row)
                print(_line(row), flush=True)
                OUT.write_text(json.dumps({"header": head, "rows": results}, indent=2))  # a long run keeps its rows
        finally:
            b.clear()
    print("\n" + head + "\n" + "\n".join(_line(r) for r in results))
    print(f"written to {OUT}")
    unfinished = [(r["policies"], r["size"], r["rate"], r["path"], r["not_loaded_after_drain"]) for r in results
                  if any(r["not_loaded_after_drain"].values())]
    assert not unfinished, f"updates never loaded within {DRAIN_S:.0f} s of the row's end: {unfinished}"
