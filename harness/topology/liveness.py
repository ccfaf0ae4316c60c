"""The WAN link follows the containers' liveness, however they die.

Toxiproxy accepts a client's connection before it dials the upstream (Shopify/toxiproxy issue
265), so through the WAN a dead component looks alive but slow: HAProxy's connect succeeds and
each request waits for `timeout server` (measured: 46 queries hung 60 s after a `docker kill`
of DC2). In production a dead host's SYNs go unanswered. The nemesis blackholes what it kills
itself; this follower does the same for every other death (a crash, an OOM kill, `docker
stop`, a user's `docker kill`), from Docker's event stream:

  die     every WAN listener for the component drops packets both ways (a dead host);
  pause   the same: `docker pause` freezes the container whole, as a hypervisor's pause
          freezes a VM, whose kernel answers nothing either;
  start   they refuse instead (RST: the host is up, nothing listens yet), until the
  unpause component's own port accepts a connection; then they carry traffic again.

A stopped process on a live host is another failure, a grey one (its kernel still completes
handshakes): the nemesis's `pause` makes it with SIGSTOP (chaos/process.py), which Docker's
event stream does not report as a pause, so it is left alone here.

Its rules live in their own chain (netns.LIVE_CHAIN) in the Toxiproxy container's namespace,
so `halab heal` (which flushes the nemesis's chain) never revives a container still dead.
It runs as a process of its own beside the lab (`up` starts it, `down` stops it, and it ends
when the WAN container goes), logging each change with its delay to `liveness.log` in the
run's private directory. Run by hand: `python -m harness.topology.liveness STATE_FILE`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import harness.topology.state as st
from harness import netns
from harness.labels import LABEL
from harness.topology.wan import Route, wan_routes

log = logging.getLogger("halab.liveness")
PIDFILE, READYFILE, LOGFILE = "liveness.pid", "liveness.ready", "liveness.log"
LISTEN_POLL_S = 0.1
LISTEN_TIMEOUT_S = 300.0


class Follower:
    """One lab's WAN listeners kept in step with its containers."""

    def __init__(self, state: st.State, routes: tuple[Route, ...], wan_container: str, client) -> None:
        self.state, self.docker, self.wan = state, client, wan_container
        self.routes: dict[str, list[Route]] = {}
        for r in routes:
            self.routes.setdefault(r.server, []).append(r)
        self.by_container = {c["container"]: name for name, c in state.components.items() if name in self.routes}
        self.pid = netns.pid_of(client, wan_container)
        nets = client.containers.get(wan_container).attrs["NetworkSettings"]["Networks"]
        self.listen = {site: nets[net]["IPAddress"] for site, net in state.networks.items() if net in nets}
        self.rules: dict[str, list[list[str]]] = {}  # component -> the rules in place for it
        self.epoch: dict[str, int] = {}  # bumped on each event: a stale listener wait gives up
        self.lock = threading.Lock()

    # --- the rules ------------------------------------------------------------------

    def _set(self, name: str, action: str | None) -> int:
        """Replace the component's rules by `action`'s (DROP, REJECT) or none; returns how many
        listeners that touches."""
        new = [rule for r in self.routes[name] for rule in netns.drop_listener(self.listen[r.client_site], r.port, action)
               ] if action else []
        for rule in self.rules.pop(name, []):
            netns.delete(self.pid, rule, netns.LIVE_CHAIN)
        for rule in new:
            netns.add(self.pid, rule, netns.LIVE_CHAIN)
        if new:
            self.rules[name] = new
        return len(self.routes[name])

    def dead(self, name: str, why: str, t0: float) -> None:
        with self.lock:
            self.epoch[name] = self.epoch.get(name, 0) + 1
            n = self._set(name, "DROP")
        log.info("%s %s: %d WAN listeners drop packets (%.0f ms)", name, why, n, 1000 * (time.monotonic() - t0))

    def starting(self, name: str, t0: float) -> None:
        with self.lock:
            self.epoch[name] = epoch = self.epoch.get(name, 0) + 1
            if name not in self.rules:
                return  # it was never seen dead (started before the follower, or by `up`)
            n = self._set(name, "REJECT")
        log.info("%s started: %d WAN listeners refuse until it listens (%.0f ms)", name, n,
                 1000 * (time.monotonic() - t0))
        threading.Thread(target=self._open_when_listening, args=(name, epoch, t0), daemon=True).start()

    def _open_when_listening(self, name: str, epoch: int, t0: float) -> None:
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.epoch.get(name) != epoch:
                return
            if self._listening(name):
                with self.lock:
                    if self.epoch.get(name) == epoch:
                        self._set(name, None)
                        log.info("%s listens: its WAN listeners carry traffic again (%.1f s after its start)",
                                 name, time.monotonic() - t0)
                return
            time.sleep(LISTEN_POLL_S)
        log.warning("%s did not listen within %.0f s: its WAN listeners keep refusing", name, LISTEN_TIMEOUT_S)

    def _listening(self, name: str) -> bool:
        comp = self.state.components[name]
        try:
            c = self.docker.containers.get(comp["container"])
            ip = c.attrs["NetworkSettings"]["Networks"][self.state.networks[comp["site"]]]["IPAddress"]
        except Exception:  # noqa: BLE001 - gone or between states: not listening yet
            return False
        ports = {r.port for r in self.routes[name]}
        return bool(ip) and all(_accepts(ip, p) for p in ports)

    # --- the event stream -----------------------------------------------------------

    def reconcile(self) -> None:
        """Whatever is not running now is dead now (a follower started late, or restarted)."""
        netns.ensure_chain(self.pid, netns.LIVE_CHAIN)
        netns.flush(self.pid, netns.LIVE_CHAIN)
        for container, name in self.by_container.items():
            try:
                status = self.docker.containers.get(container).status
            except Exception:  # noqa: BLE001
                status = "missing"
            if status != "running":
                self.dead(name, f"found {status}", time.monotonic())

    def follow(self, events) -> None:
        for e in events:
            t0 = time.monotonic()
            action = e.get("Action") or e.get("status") or ""
            container = e.get("Actor", {}).get("Attributes", {}).get("name", "")
            if container == self.wan and action in ("die", "destroy"):
                log.info("the WAN container is gone: the lab is going down; stopping")
                return
            name = self.by_container.get(container)
            if name is None:
                continue
            try:
                if action in ("die", "pause"):
                    self.dead(name, "died" if action == "die" else "paused", t0)
                elif action in ("start", "unpause"):
                    self.starting(name, t0)
            except netns.NetnsError as exc:  # the WAN container itself is going
                log.warning("%s %s: %s", name, action, exc)


def _accepts(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.5):
            return True
    except OSError:
        return False


# --- the process beside the lab ---------------------------------------------------------


def start(state: st.State, state_file: Path, timeout_s: float = 30.0) -> int:
    """Start the follower for the lab in `state_file`; returns once it follows the events."""
    private = Path(state.secrets_dir)
    (private / READYFILE).unlink(missing_ok=True)
    logfile = open(private / LOGFILE, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "harness.topology.liveness", str(state_file)],
                            stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                            start_new_session=True)  # not in the caller's process group: Ctrl-C is `down`'s
    logfile.close()
    (private / PIDFILE).write_text(str(proc.pid))
    deadline = time.monotonic() + timeout_s
    while not (private / READYFILE).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            tail = (private / LOGFILE).read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the WAN liveness follower did not start (log {private / LOGFILE}):\n{tail}")
        time.sleep(0.05)
    return proc.pid


def stop(run_id: str | None = None) -> int:
    """Stop the follower of one run (every run's without `run_id`); returns how many."""
    stopped = 0
    for pidfile in st.private_files(run_id, PIDFILE):
        try:
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
            stopped += 1
        except (ProcessLookupError, ValueError):
            pass
        pidfile.unlink(missing_ok=True)
    return stopped


def main(argv: list[str]) -> int:
    import docker

    from harness.spec import preset
    from harness.topology.plan import Plan

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    state = st.load(Path(argv[0]))
    if state is None:
        raise SystemExit(f"no lab's state file at {argv[0]}")
    plan = Plan.of(preset(state.preset), state.run_id)
    client = docker.from_env(timeout=120)
    follower = Follower(state, wan_routes(plan), plan.wan_container, client)
    events = client.events(decode=True, filters={"type": "container", "label": f"{LABEL}={state.run_id}"})
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    follower.reconcile()
    (Path(state.secrets_dir) / READYFILE).write_text("ready")
    log.info("following %d components' liveness for run %s", len(follower.by_container), state.run_id)
    follower.follow(events)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
