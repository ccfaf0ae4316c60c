"""The Raft stores asked to change, not killed: etcd compacted, OpenBao stepped down or sealed."""

from __future__ import annotations

from chaos import raft
from chaos.faults.package import Start, Started
from chaos.ledger import ActiveFault
from harness.faults import Targets
from harness.topology.lab import Lab


def _compact(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    return [], f"compacted at revision {raft.etcd_compact(lab.state)}"


def _step_down(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    active = raft.bao_active(lab.state)
    if active is None:
        raise RuntimeError("no active OpenBao node to step down")
    raft.bao_call(lab.state, active, "sys/step-down")
    return [], f"{active} (was active)"


def _seal(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    names = [n for n in t.components if lab.state.component(n).kind == "vault"]
    for n in names:
        raft.bao_call(lab.state, n, "sys/seal")
    return [{"do": "unseal", "components": names}], ", ".join(names)


PACKAGES: dict[str, Start] = {"etcd-compact": _compact, "bao-step-down": _step_down, "bao-sealed": _seal}
