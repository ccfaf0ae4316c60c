"""The nemesis: start a fault by kind and target, heal it, heal everything.

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

from chaos import haproxy, ledger, llm, network, process, raft
from chaos.ledger import ActiveFault
from harness import netns
from harness.faults import FAULT_KINDS, fault_kind, resolve

log = logging.getLogger(__name__)
Recorder = Callable[[str, dict[str, Any]], None]  # (fault kind, value) -> event in the history
_ids = itertools.count(1)


class Nemesis:
    def __init__(self, lab, record: Recorder | None = None) -> None:
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

    # --- breaking ---------------------------------------------------------------------

    def _break(self, f: ActiveFault) -> tuple[list[dict], str]:
        lab, topo, o = self.lab, self.lab.plan.topology, f.options
        targets = resolve(topo, f.kind, f.target)
        if f.kind in ("site-down", "node-crash", "component-down"):
            action = "REJECT" if o.get("mode") == "reject" else "DROP"
            return self._kill(list(targets.components), action)
        if f.kind == "etcd-leader-down":
            return self._kill_leader("etcd", raft.etcd_leader(lab.state))
        if f.kind == "etcd-compact":
            return [], f"compacted at revision {raft.etcd_compact(lab.state)}"
        if f.kind == "bao-active-down":
            return self._kill_leader("vault", raft.bao_active(lab.state))
        if f.kind == "bao-step-down":
            active = raft.bao_active(lab.state)
            if active is None:
                raise RuntimeError("no active OpenBao node to step down")
            raft.bao_call(lab.state, active, "sys/step-down")
            return [], f"{active} (was active)"
        if f.kind == "bao-sealed":
            names = [n for n in targets.components if lab.state.components[n]["kind"] == "vault"]
            for n in names:
                raft.bao_call(lab.state, n, "sys/seal")
            return [{"do": "unseal", "components": names}], ", ".join(names)
        if f.kind == "pause":
            return process.pause(lab, list(targets.components)), ", ".join(targets.components)
        if f.kind == "restart":
            names = list(targets.components)
            return self._restart(names, drain=bool(o.get("drain", 1)), cpus=float(o.get("cpus", 0))), ", ".join(names)
        if f.kind == "partition":
            routes = network.routes_on(lab, targets.directed)
            return network.drop_routes(lab, routes), f"{len(routes)} proxies dropped"
        if f.kind == "packet-loss":
            routes = network.routes_on(lab, targets.directed)
            return network.drop_routes(lab, routes, f"LOSS:{float(o['probability']):g}"), f"{len(routes)} proxies"
        if f.kind in ("latency", "bandwidth", "flaky"):
            routes = network.routes_on(lab, targets.directed)
            return network.toxics(lab, routes, f.id, f.kind, o), f"{len(routes)} proxies"
        if f.kind == "mongo-unreachable":
            routes = [r for r in lab.routes if r.client_site == f.target and lab.state.components[r.server]["kind"] == "mongo"]
            return network.drop_routes(lab, routes), f"{len(routes)} proxies to Atlas"
        if f.kind == "vault-unreachable":
            gateways = [n for n in targets.components if lab.state.components[n]["kind"] == "gateway"]
            vaults = [n for n, c in lab.state.components.items() if c["kind"] == "vault"]
            ports = sorted({p for v in vaults for p in lab.state.components[v]["ports"].values()})
            undo = [step for g in gateways for step in network.block_from(lab, g, vaults, ports)]
            return undo, f"OpenBao from {', '.join(gateways)}"
        if f.kind in llm.FAULTS:
            return llm.set_faults(lab.state, f.kind, o), "the LLM API"
        if f.kind == "key-rotation":
            return llm.rotate_key(lab.state, o), "the LLM key"
        raise ValueError(f"no way to inject {f.kind} on the lab; known: {', '.join(FAULT_KINDS)}")

    def _kill(self, names: list[str], action: str) -> tuple[list[dict], str]:
        # Blackhole first: from the first instant, remote clients see a dead server, not a proxy.
        undo = network.drop_routes(self.lab, network.routes_to(self.lab, names), action)
        return process.kill(self.lab, names) + undo, ", ".join(names)

    def _restart(self, names: list[str], drain: bool, cpus: float) -> list[dict]:
        """Restart; with `drain`, the gateways among them are drained on every LB first, made
        ready again once healthy, and the restart is done once every LB has them UP. `cpus`
        starves the restarted containers while they start (a slow machine), then lifts it."""
        gateways = [n for n in names if self.lab.state.components[n]["kind"] == "gateway"] if drain else []
        if gateways:
            haproxy.drain(self.lab.state, gateways)
        try:
            with process.cpus_limited(self.lab, names, cpus):
                return process.restart(self.lab, names)
        finally:
            if gateways:
                haproxy.ready(self.lab.state, gateways)

    def _kill_leader(self, kind: str, leader: str | None) -> tuple[list[dict], str]:
        if leader is None:
            raise RuntimeError(f"no {kind} leader right now (lost quorum?): nothing to kill")
        undo, _ = self._kill([leader], "DROP")
        return undo, f"{leader} (leader)"

    # --- healing ----------------------------------------------------------------------

    def _undo(self, fault: ActiveFault) -> None:
        # Starts last: a restarted member rejoins through a link that is already whole.
        steps = sorted(fault.undo, key=lambda s: s["do"] == "start")
        for step in steps:
            self._run(step)

    def _run(self, step: dict) -> None:
        lab, do = self.lab, step["do"]
        if do == "iptables-delete":
            try:
                netns.delete(netns.pid_of(lab.docker, step["container"]), step["rule"])
            except (netns.NetnsError, docker.errors.NotFound):
                pass  # not running: its namespace, and the rule, are gone
        elif do == "start":
            process.start(lab, step["components"])
        elif do == "unpause":
            process.unpause(lab, step["components"])
            process.start(lab, step["components"])
        elif do == "unseal":
            for name in step["components"]:
                process.ready(lab, name)
        elif do == "remove-toxic":
            lab.wan.remove_toxic(step["proxy"], step["toxic"])
        elif do == "llm-clear":
            llm.clear(lab.state)
        else:
            raise ValueError(f"unknown undo step {do!r}")

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
        stopped = [n for n, c in lab.state.components.items() if _status(lab, c["container"]) != "running"]
        if stopped:
            process.start(lab, stopped)
        for name, c in lab.state.components.items():
            if c["kind"] == "vault":
                process.ready(lab, name)
        try:
            llm.clear(lab.state)
        except Exception as exc:  # noqa: BLE001 - a lab without the stub's admin token
            log.warning("LLM faults not cleared: %s", exc)


def _status(lab, container: str) -> str:
    try:
        c = lab.docker.containers.get(container)
        return c.status
    except docker.errors.NotFound:
        return "missing"


def wait_healthy(lab, timeout_s: float = 120.0) -> float:
    """Every component healthy again (what a scenario checks before it starts); returns seconds."""
    t0 = time.monotonic()
    process._parallel(lambda n: process.ready(lab, n, timeout_s), list(lab.state.components))
    return time.monotonic() - t0
