"""Each fault kind's lab package, by name: how the nemesis starts it on a running lab (and the
steps that undo it). harness/faults.py's table says what kinds there are; a kind's package
lives in the module of its family, and tests/chaos/test_fault_registry.py holds the two together.

    package.py      what a package is: start(lab, fault, targets) -> (undo steps, what it hit)
    kills.py        site-down, node-crash, component-down, the Raft leaders killed; pause
    restart.py      restart (drained, starved)
    consensus.py    etcd-compact, bao-step-down, bao-sealed
    wan.py          partition, packet-loss, latency, bandwidth, flaky
    unreachable.py  mongo-unreachable, vault-unreachable
    llm_api.py      llm-errors, llm-429, llm-hang, key-rotation
    certs.py        cert-expired, cert-foreign
    rotation.py     ca-rotate
    undo.py         the undo steps the ledger keeps, and how each runs
"""

from __future__ import annotations

import chaos.faults.certs as certs
import chaos.faults.consensus as consensus
import chaos.faults.kills as kills
import chaos.faults.llm_api as llm_api
import chaos.faults.restart as restart
import chaos.faults.rotation as rotation
import chaos.faults.unreachable as unreachable
import chaos.faults.wan as wan
from chaos.faults.package import Start
from harness.faults import FAULT_KINDS, merge_packages

PACKAGES: dict[str, Start] = merge_packages("lab", kills.PACKAGES, restart.PACKAGES, consensus.PACKAGES, wan.PACKAGES,
                                             unreachable.PACKAGES, llm_api.PACKAGES, certs.PACKAGES,
                                             rotation.PACKAGES)


def package(kind: str) -> Start:
    try:
        return PACKAGES[kind]
    except KeyError:
        raise ValueError(f"no way to inject {kind} on the lab; known: {', '.join(FAULT_KINDS)}") from None
