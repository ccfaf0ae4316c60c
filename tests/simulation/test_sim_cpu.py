"""CPU in the model (simulation/cpu.py): demand per request per component on the host's or the
VMs' cores.

The demands here are FAKE inputs, chosen so that the answers are known without a lab: 20 ms of
CPU per query spread over the stations of its path, on 2 cores, saturates the host at 2 / 0.020
= 100 queries/s. Measured demands (cgroup counters per request) replace them in a params file.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.scenario import RAG_QUERY, Fault, Load, Scenario
from harness.spec import preset
from simulation.capacity import best_rates, sweep
from simulation.model import Model
from simulation.params import ModelParams
from simulation.run import simulate

FAKE_CPU_S = {RAG_QUERY: {"gateway": 0.005, "opa": 0.003, "rag": 0.008, "vectordb": 0.004}}  # fake: 20 ms a query
FAKE_QUERY_CPU_S = sum(FAKE_CPU_S[RAG_QUERY].values())
CORES = 2
KNEE = CORES / FAKE_QUERY_CPU_S  # 100 queries/s
ONLY_QUERIES = ((RAG_QUERY, 1.0),)
SEED = 3


def fake(placement: str = "host", cpu_s=FAKE_CPU_S) -> ModelParams:
    return ModelParams(cpu_s=cpu_s, cpu=placement, host_cores=CORES, node_cores=CORES)


def run(rps: float, params: ModelParams | None, duration_s: float = 60.0, faults=(), topo: str = "seed"):
    return simulate(preset(topo), Scenario("cpu", Load.constant(rps, duration_s, ONLY_QUERIES), faults), params, seed=SEED)


def test_without_cpu_demand_the_model_is_the_model_as_it_was() -> None:
    assert Model(preset("seed")).cpu is None
    fault = (Fault("site-down", "dc2", 20.0, 40.0),)
    plain = simulate(preset("seed"), Scenario("t", Load.constant(40, 60), fault), seed=SEED).history()
    zeros = ModelParams(cpu_s={RAG_QUERY: {"rag": 0.0, "client": 0.0}})
    assert simulate(preset("seed"), Scenario("t", Load.constant(40, 60), fault), zeros, seed=SEED).history() == plain
    # The load generator runs on no VM of production: its demand alone changes nothing there.
    client_only = ModelParams(cpu_s={RAG_QUERY: {"client": 0.01}}, cpu="vms")
    assert simulate(preset("seed"), Scenario("t", Load.constant(40, 60), fault), client_only, seed=SEED).history() == plain


def test_a_params_file_carries_cpu_demand_per_flow_and_kind_and_its_placement(tmp_path) -> None:
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"cpu_s": {RAG_QUERY: {"rag": 0.006, "client": 0.004}, "policy_update": {"cms": 0.002}},
                                "cpu": "vms", "host_cores": 4, "node_cores": 8}))
    p = ModelParams.load(path)
    assert p.cpu_s == {RAG_QUERY: {"rag": 0.006, "client": 0.004}, "policy_update": {"cms": 0.002}}
    assert (p.cpu, p.host_cores, p.node_cores) == ("vms", 4, 8)
    assert p.stations == ModelParams().stations  # the rest stays the defaults
    path.write_text(p.to_json())
    assert ModelParams.load(path).cpu_s == p.cpu_s
    assert ModelParams().cpu_s == {} and ModelParams().cpu == "host"
    for bad in ({"cpu_s": {"rag_qurey": {"rag": 0.1}}}, {"cpu_s": {RAG_QUERY: {"rag": -0.1}}}, {"cpu": "cloud"},
                {"cpu_s": {RAG_QUERY: 0.1}}, {"host_cores": 0}):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError):
            ModelParams.load(path)


@pytest.mark.parametrize("rps", [30.0, 60.0, 85.0])
def test_fake_demand_host_utilisation_is_rate_times_cpu_over_cores(rps) -> None:
    got = run(rps, fake(), duration_s=90.0).cpu_utilisation()
    assert list(got) == ["host"]
    assert got["host"] == pytest.approx(rps * FAKE_QUERY_CPU_S / CORES, rel=0.03)


def test_fake_demand_p95_is_flat_below_the_knee_and_grows_sharply_past_it() -> None:
    p95 = {rps: run(rps, fake(), duration_s=40.0).latency()[RAG_QUERY].p95 for rps in (20.0, 50.0, 80.0, 1.2 * KNEE)}
    low = p95[20.0]
    assert p95[50.0] < 1.1 * low and p95[80.0] < 1.15 * low  # the LLM's 250 ms sets it, not the cores
    assert p95[1.2 * KNEE] > 5 * low  # the host's cores saturated: queues grow for the whole run
    # Without the demand the same rates stay flat: the knee is the cores'.
    assert run(1.2 * KNEE, None, duration_s=40.0).latency()[RAG_QUERY].p95 < 1.1 * low


def test_fake_demand_saturates_later_on_the_two_dcs_vms_than_on_the_lab_host() -> None:
    rates = [50.0, 80.0, 120.0, 200.0]
    host = sweep(preset("seed"), rates, [1], 1.0, 20.0, fake(), SEED, cpu="host")
    vms = sweep(preset("seed"), rates, [1], 1.0, 20.0, fake(), SEED, cpu="vms")
    assert best_rates(host)[1] == 80.0 < KNEE < best_rates(vms)[1] == 200.0
    assert list(host[0].cpu) == ["host"] and "dc1-app" in vms[0].cpu
    # Per VM: a DC's half of the queries, its app node holding gateway + OPA + RAG, its data node the vector DB.
    per_node = run(KNEE, fake("vms"), duration_s=60.0).cpu_utilisation()
    app, data = (sum(FAKE_CPU_S[RAG_QUERY][k] for k in kinds) for kinds in (("gateway", "opa", "rag"), ("vectordb",)))
    for dc in ("dc1", "dc2"):
        assert per_node[f"{dc}-app"] == pytest.approx(KNEE / 2 * app / CORES, rel=0.05)
        assert per_node[f"{dc}-data"] == pytest.approx(KNEE / 2 * data / CORES, rel=0.05)
    assert per_node["edge-lb1"] == per_node["external-atlas"] == 0.0


def test_fake_demand_of_the_load_generator_and_of_delays_runs_where_the_lab_and_production_run_them() -> None:
    cpu_s = {RAG_QUERY: {"client": 0.004, "mongo": 0.006}}  # fake
    rps = 50.0
    host = run(rps, fake(cpu_s=cpu_s), duration_s=90.0).cpu_utilisation()
    assert host["host"] == pytest.approx(rps * 0.010 / CORES, rel=0.03)
    vms = run(rps, fake("vms", cpu_s), duration_s=90.0).cpu_utilisation()
    assert vms["external-atlas"] == pytest.approx(rps * 0.006 / CORES, rel=0.03)
    assert all(u == 0.0 for node, u in vms.items() if node != "external-atlas")


def test_fake_demand_through_a_dc_outage_still_fails_over() -> None:
    r = run(40.0, fake(), faults=(Fault("site-down", "dc2", 20.0, 40.0),))
    assert r.availability()[RAG_QUERY].availability > 0.95
    assert {op.site for op in r.completions() if op.type == "ok"} == {"dc1", "dc2"}


def test_capacity_cli_chooses_the_placement_and_reports_its_cpu(tmp_path) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"cpu_s": FAKE_CPU_S, "host_cores": CORES, "node_cores": CORES}))  # fake
    common = ["capacity", "--rps", "50,150", "--replicas", "1", "--duration", "15", "--params", str(params)]
    host = CliRunner().invoke(main, common)
    assert host.exit_code == 0, host.output
    assert "host CPU" in host.output and "no CPU demand" not in host.output
    out = tmp_path / "sweep"
    vms = CliRunner().invoke(main, [*common, "--cpu", "vms", "--out", str(out)])
    assert vms.exit_code == 0, vms.output
    assert "VM CPU is the busiest VM's: 50 rps dc" in vms.output
    body = json.loads((out / "capacity.json").read_text())
    assert body["cpu"] == "vms" and body["points"][0]["cpu"]["dc1-app"] > 0
    plain = CliRunner().invoke(main, ["capacity", "--rps", "50", "--replicas", "1", "--duration", "5"])
    assert plain.exit_code == 0 and "no CPU demand" in plain.output
