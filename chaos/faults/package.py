"""What a fault kind's lab package is (Jepsen's nemesis package, its heal as plain data): a start
that breaks the lab and returns the undo steps the ledger keeps (chaos/faults/undo.py runs them)
and what it hit, for `halab faults` and the history's `started` event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chaos.ledger import ActiveFault
from harness.faults import Targets
from harness.topology.lab import Lab

Started = tuple[list[dict[str, Any]], str]  # (undo steps, what was hit: "etcd1 (leader)", "12 proxies")
Start = Callable[[Lab, ActiveFault, Targets], Started]  # (lab, the fault, its resolved targets)
