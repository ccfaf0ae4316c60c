"""The nemesis: start a fault by kind and target, heal it, heal everything. How each kind starts
on the lab, and the steps that undo it, is the kind's package in chaos/faults/.

Example (needs a running lab)::

    with Nemesis(attach()) as n:
        f = n.start("site-down", "dc2")           # DC2 dark: killed, its proxies blackholed
        n.stop(f)                                 # started again, healthy, unsealed
    # leaving the block heals whatever is still active

Every start is written to the ledger (chaos/ledger.py) before it acts, with the steps that
undo it, so a test that fails or a process that dies leaves faults `halab heal` can find.
Every start and stop is an event in the history when a recorder is given (`record`).
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import docker.errors

import chaos.faults as faults
import chaos.faults.undo as undo
from chaos import ledger, llm, process
from chaos.ledger import ActiveFault
from harness import netns
from harness.faults import fault_kind, resolve
from harness.topology.lab import Lab

log = logging.getLogger(__name__)
Recorder = Callable[[str, dict[str, Any]], None]  # (fault kind, value) -> event in the history
_ids = itertools.count(1)


class Nemesis:
    def __init__(self, lab: Lab, record: Recorder | None = None) -> None:
        self.lab = lab
        self.record = record or (lambda _f, _v: None)

    # --- start / stop -----------------------------------------------------------------

    def start(self, kind: str, target: str = "", options: dict[str, Any] | None = None) -> ActiveFault:
        fk = fault_kind(kind)
        opts = {**fk.options, **(options or {})}
        fault = ActiveFault(f"f{os.getpid()}x{next(_ids)}", kind, target, opts)
        ledger.add(self.lab.state_file, fault)  # before acting: a crash mid-start still gets healed
        # `start` at the onset (checkers time detection from it), `started` once all of it acts.
        self.record(kind, {"target": target, "phase": "start", "id": fault.id})
        t0 = time.monotonic()
        try:
            fault.undo, fault.what = self._break(fault)
        except BaseException as exc:
            self._undo(fault)
            ledger.remove(self.lab.state_file, fault.id)
            self.record(kind, {"target": target, "phase": "stop", "id": fault.id, "error": str(exc)})
            raise
        ledger.add(self.lab.state_file, fault)
        self.record(kind, {"target": target, "phase": "started", "what": fault.what, "id": fault.id,
                           "start_s": round(time.monotonic() - t0, 3)})
        log.info("fault %s %s started: %s", kind, target, fault.what)
        return fault

    def stop(self, fault: ActiveFault) -> None:
        # `stop` when the heal begins (the model restarts at that instant); `healed` when every
        # part is back, so recovery in the history includes what restarting really costs.
        self.record(fault.kind, {"target": fault.target, "phase": "stop", "what": fault.what, "id": fault.id})
        t0 = time.monotonic()
        self._undo(fault)
        ledger.remove(self.lab.state_file, fault.id)
        self.record(fault.kind, {"target": fault.target, "phase": "healed", "id": fault.id,
                                 "heal_s": round(time.monotonic() - t0, 3)})

    def active(self) -> list[ActiveFault]:
        return ledger.load(self.lab.state_file)

    def heal_all(self) -> list[str]:
        """Undo every active fault, then sweep whatever a crashed run may have left: proxies
        enabled, fault toxics removed, our iptables chains flushed, CPU quotas lifted, processes continued, containers unpaused and
        started, OpenBao unsealed, LLM faults cleared. Idempotent."""
        done = []
        for fault in reversed(self.active()):
            try:
                self.stop(fault)
                done.append(f"{fault.kind} {fault.target}")
            except Exception as exc:  # noqa: BLE001 - the sweep below still runs
                log.warning("healing %s %s: %s", fault.kind, fault.target, exc)
        ledger.clear(self.lab.state_file)
        self._sweep()
        return done

    def __enter__(self) -> Nemesis:
        return self

    def __exit__(self, *exc) -> None:
        self.heal_all()

    # --- breaking and healing -----------------------------------------------------------

    def _break(self, f: ActiveFault) -> tuple[list[dict], str]:
        targets = resolve(self.lab.plan.topology, f.kind, f.target)
        return faults.package(f.kind)(self.lab, f, targets)

    def _undo(self, fault: ActiveFault) -> None:
        undo.run_all(self.lab, fault.undo)

    def _sweep(self) -> None:
        lab = self.lab
        lab.wan.heal()
        for c in lab.docker.containers.list(filters={"label": f"halab={lab.run_id}", "status": "running"}):
            try:
                netns.flush(netns.pid_of(lab.docker, c.name))
            except netns.NetnsError:
                pass
            if c.attrs["HostConfig"].get("CpuQuota", 0) > 0:  # a starved restart cut short
                c.update(cpu_quota=-1)
            process.signal_all(c, signal.SIGCONT)  # a pause (SIGSTOP) a crashed run left
        stopped = [c.name for c in lab.state.all_components() if _status(lab, c.container) != "running"]
        if stopped:
            process.start(lab, stopped)
        for c in lab.state.of_kind("vault"):
            process.ready(lab, c.name)
        try:
            llm.clear(lab.state)
        except Exception as exc:  # noqa: BLE001 - a lab without the stub's admin token
            log.warning("LLM faults not cleared: %s", exc)


def _status(lab: Lab, container: str) -> str:
    try:
        c = lab.docker.containers.get(container)
        return c.status
    except docker.errors.NotFound:
        return "missing"


def wait_healthy(lab: Lab, timeout_s: float = 120.0) -> float:
    """Every component healthy again (what a scenario checks before it starts); returns seconds."""
    t0 = time.monotonic()
    process._parallel(lambda n: process.ready(lab, n, timeout_s), list(lab.state.components))
    return time.monotonic() - t0
