"""The undo steps a lab package returns, as the ledger keeps them ({"do": name, ...}), and how
each runs. A step's name is part of the ledger's format: `halab heal` runs what an older run left."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker.errors

from chaos import llm, process
from chaos.faults.certs import renew
from harness import netns
from harness.topology.lab import Lab

Step = dict[str, Any]


def _iptables_delete(lab: Lab, step: Step) -> None:
    try:
        netns.delete(netns.pid_of(lab.docker, step["container"]), step["rule"])
    except (netns.NetnsError, docker.errors.NotFound):
        pass  # not running: its namespace, and the rule, are gone


def _unpause(lab: Lab, step: Step) -> None:
    process.unpause(lab, step["components"])
    process.start(lab, step["components"])


def _unseal(lab: Lab, step: Step) -> None:
    for name in step["components"]:
        process.ready(lab, name)


STEPS: dict[str, Callable[[Lab, Step], None]] = {
    "iptables-delete": _iptables_delete,
    "start": lambda lab, step: process.start(lab, step["components"]),
    "unpause": _unpause,
    "unseal": _unseal,
    "remove-toxic": lambda lab, step: lab.wan.remove_toxic(step["proxy"], step["toxic"]),
    "llm-clear": lambda lab, step: llm.clear(lab.state),
    "reissue": lambda lab, step: renew(lab, step["components"]),
}


def run(lab: Lab, step: Step) -> None:
    try:
        do = STEPS[step["do"]]
    except KeyError:
        raise ValueError(f"unknown undo step {step['do']!r}") from None
    do(lab, step)


def run_all(lab: Lab, steps: list[Step]) -> None:
    # Starts last: a restarted member rejoins through a link that is already whole.
    for step in sorted(steps, key=lambda s: s["do"] == "start"):
        run(lab, step)
