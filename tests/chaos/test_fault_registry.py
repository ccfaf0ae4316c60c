"""The fault registries held to harness/faults.py's table, without Docker: every kind has a lab
package (chaos/faults/), every kind the model runs (`in_model`) a model package
(simulation/faults/) that changes what the model does, and neither registers a kind the table
lacks. Adding a fault kind is its row and its two packages; this fails when one is missing."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest

import chaos.faults as lab_faults
import chaos.faults.undo as undo
import simulation.faults as model_faults
from chaos.ledger import ActiveFault
from chaos.nemesis import Nemesis
from harness.faults import FAULT_KINDS, Targets
from harness.scenario import Fault, Load, Scenario, ScenarioError
from harness.spec import preset
from reports.teaching import PARTICIPANTS
from simulation.run import simulate

IN_MODEL = [k.name for k in FAULT_KINDS.values() if k.in_model]
# A target on `seed` for each target type a modelled kind may have; a kind of another type
# (a "none" one, say) needs its target here first.
TARGET = {"site": "dc2", "node": "dc1-data", "component": "gateway1", "link": "dc1,dc2"}
LOAD = Load.constant(10.0, 40.0)  # requests per second, seconds: a cheap run
START_S, STOP_S = 10.0, 30.0


def test_every_kind_has_a_lab_package_and_nothing_else_is_registered() -> None:
    assert sorted(set(FAULT_KINDS) - set(lab_faults.PACKAGES)) == [], "fault kinds with no lab package in chaos/faults/"
    assert sorted(set(lab_faults.PACKAGES) - set(FAULT_KINDS)) == [], "lab packages for kinds harness/faults.py lacks"
    for kind, start in lab_faults.PACKAGES.items():
        inspect.signature(start).bind("lab", "fault", "targets")  # start(lab, fault, targets)
        assert lab_faults.package(kind) is start


def test_the_model_registers_exactly_the_kinds_it_runs() -> None:
    registered = set(model_faults.PACKAGES)
    assert sorted(set(IN_MODEL) - registered) == [], "kinds the table says the model runs, with no package in simulation/faults/"
    assert sorted(registered - set(IN_MODEL)) == [], "model packages for kinds the table does not say the model runs"


def _system(history) -> list:
    """What the system did: the history without the nemesis's own events, which a fault that
    changes nothing would still write."""
    return [op for op in history if op.process != "nemesis"]


@pytest.mark.parametrize("kind", IN_MODEL)
def test_each_model_package_changes_what_the_model_does(kind: str) -> None:
    fk = FAULT_KINDS[kind]
    fault = Fault(kind, TARGET[fk.target], START_S, STOP_S, dict(fk.options))
    without = simulate(preset("seed"), Scenario("t", LOAD), seed=3).history()
    with_it = simulate(preset("seed"), Scenario("t", LOAD, (fault,)), seed=3).history()
    assert {op.value["phase"] for op in with_it if op.process == "nemesis"} >= {"start", "stop"}
    unchanged = _system(with_it) == _system(without)
    assert not unchanged, f"{kind} {fault.target} left the model as it was"


def test_a_kind_the_model_does_not_run_is_refused_before_time_passes() -> None:
    kind = next(k for k in FAULT_KINDS if k not in model_faults.PACKAGES)
    with pytest.raises(ScenarioError, match=f"the model does not predict it yet .*{IN_MODEL[0]}"):
        simulate(preset("seed"), Scenario("t", LOAD, (Fault(kind, "", START_S, STOP_S),)), seed=3)


def test_the_teaching_hints_name_what_the_pages_draw() -> None:
    for fk in FAULT_KINDS.values():
        assert not fk.drawn_on or fk.drawn_on in PARTICIPANTS, fk.name
        fk.drawn_why.format(kind=fk.name, target="dc1")
        assert not fk.splits or fk.target == "link", fk.name


def test_the_nemesis_starts_a_kind_by_its_package(monkeypatch) -> None:
    seen = []

    def start(lab, fault, targets):
        seen.append((fault.kind, targets))
        return [{"do": "start", "components": ["gateway2"]}], "gateway2"

    monkeypatch.setitem(lab_faults.PACKAGES, "component-down", start)
    lab = SimpleNamespace(plan=SimpleNamespace(topology=preset("seed")))
    got = Nemesis(lab)._break(ActiveFault("f1", "component-down", "gateway2"))
    assert got == ([{"do": "start", "components": ["gateway2"]}], "gateway2")
    assert seen == [("component-down", Targets(("gateway2",), ("dc2",)))]


def test_undo_steps_run_starts_last_and_refuse_an_unknown_step(monkeypatch) -> None:
    ran = []
    for do in undo.STEPS:
        monkeypatch.setitem(undo.STEPS, do, lambda _lab, step: ran.append(step["do"]))
    undo.run_all(None, [{"do": "start"}, {"do": "iptables-delete"}, {"do": "remove-toxic"}])
    assert ran == ["iptables-delete", "remove-toxic", "start"]
    with pytest.raises(ValueError, match="unknown undo step 'reboot'"):
        undo.run(None, {"do": "reboot"})


def test_a_cert_fault_whose_start_fails_renews_what_it_replaced_fake_lab(monkeypatch) -> None:
    """The ledger has no undo step until a start returns: certs.py renews on its own way out."""
    from types import SimpleNamespace

    from chaos.faults import certs

    renewed = []
    monkeypatch.setattr(certs.LabCa, "load", classmethod(lambda cls, d: SimpleNamespace(reissue=lambda pem, expired: pem)))
    monkeypatch.setattr(certs, "replace", lambda lab, name, issue: ["/etc/halab/tls"])
    monkeypatch.setattr(certs.process, "bounce", lambda lab, names: (_ for _ in ()).throw(RuntimeError("engine gone")))
    monkeypatch.setattr(certs, "renew", lambda lab, names: renewed.append(names))
    lab = SimpleNamespace(state=SimpleNamespace(secrets_dir="/nowhere"), run_id="r")
    with pytest.raises(RuntimeError, match="engine gone"):
        certs.PACKAGES["cert-expired"](lab, SimpleNamespace(options={}), SimpleNamespace(components=("etcd2",)))
    assert renewed == [["etcd2"]]
