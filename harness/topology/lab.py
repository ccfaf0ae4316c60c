"""What the rest of the lab may use of a running topology, as types: seeding, the nemesis
(chaos/), the observers, the clients and the load (loadtests/) take a `Lab`, not the class
that happens to hold one. realise.Running is the one the harness makes (`up`, `attach`);
a test passes any object of the same shape.

The protocols live here, beside the state and the plan they name, because every layer may
import harness/ and none may import the layer above it (pyproject.toml's import contracts).
Every member is a read-only property so that a dataclass field, a property or a fake's
attribute all satisfy it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import docker

    from harness.topology.plan import Plan
    from harness.topology.state import State
    from harness.topology.wan import Route
    from harness.topology.wanlink import WanLink


class StartedLab(Protocol):
    """What seeding needs of a started topology: its plan, its state, the consumers' keys."""

    @property
    def plan(self) -> Plan: ...

    @property
    def state(self) -> State: ...

    @property
    def consumers(self) -> dict[str, str]: ...  # username -> API key

    def url(self, name: str, role: str | None = None) -> str: ...


class Lab(StartedLab, Protocol):
    """A running lab as the nemesis, the observers, the clients and the load use it."""

    @property
    def run_id(self) -> str: ...

    @property
    def state_file(self) -> Path: ...  # the ledger of active faults is kept beside it

    @property
    def routes(self) -> tuple[Route, ...]: ...  # every WAN proxy, one per crossing and direction

    @property
    def wan(self) -> WanLink: ...

    @property
    def docker(self) -> docker.DockerClient: ...

    def address(self, name: str) -> str: ...
