"""Processes stopped: killed (a site, a node, components, a Raft leader) or frozen (SIGSTOP)."""

from __future__ import annotations

from chaos import network, process, raft
from chaos.faults.package import Start, Started
from chaos.ledger import ActiveFault
from harness.faults import Targets
from harness.topology.lab import Lab


def kill(lab: Lab, names: list[str], action: str) -> Started:
    # Blackhole first: from the first instant, remote clients see a dead server, not a proxy.
    undo = network.drop_routes(lab, network.routes_to(lab, names), action)
    return process.kill(lab, names) + undo, ", ".join(names)


def _targets(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    return kill(lab, list(t.components), "REJECT" if f.options.get("mode") == "reject" else "DROP")


def _leader(kind: str, leader: str | None, lab: Lab) -> Started:
    if leader is None:
        raise RuntimeError(f"no {kind} leader right now (lost quorum?): nothing to kill")
    undo, _ = kill(lab, [leader], "DROP")
    return undo, f"{leader} (leader)"


def _pause(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    return process.pause(lab, list(t.components)), ", ".join(t.components)


PACKAGES: dict[str, Start] = {
    "site-down": _targets,
    "node-crash": _targets,
    "component-down": _targets,
    "etcd-leader-down": lambda lab, f, t: _leader("etcd", raft.etcd_leader(lab.state), lab),
    "bao-active-down": lambda lab, f, t: _leader("vault", raft.bao_active(lab.state), lab),
    "pause": _pause,
}
