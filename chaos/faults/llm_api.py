"""The external LLM API misbehaving (through the stub's admin API), and its key rotated."""

from __future__ import annotations

from chaos import llm
from chaos.faults.package import Start, Started
from chaos.ledger import ActiveFault
from harness.faults import Targets
from harness.topology.lab import Lab


def _misbehave(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    return llm.set_faults(lab.state, f.kind, f.options), "the LLM API"


def _rotate(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    return llm.rotate_key(lab.state, f.options), "the LLM key"


PACKAGES: dict[str, Start] = {**{kind: _misbehave for kind in llm.FAULTS}, "key-rotation": _rotate}
