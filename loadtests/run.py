"""A Locust load as a subprocess, on the caller's time 0: what `halab load` and the pytest
helper drive. This module does not import Locust (Locust patches the whole process for
gevent at import; the nemesis and observers here are threads).

The Locust master writes `t0` in the run directory on its first tick; the caller's recorder
takes that time 0, so the nemesis's events, the observers' and Locust's requests make one
history. When Locust exits, its merged history joins the caller's recorder before the
caller's `during` ends (recovery and final reads need the policies the load wrote).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from harness.clients.recorder import Recorder
from harness.history import Op, read_jsonl
from harness.scenario import Scenario
from harness.topology.lab import Lab
from loadtests.collect import read_t0

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
START_S = 60.0  # Locust's start-up, its workers connecting included
UI_LINGER_S = 60


class LoadError(RuntimeError):
    """Locust did not start or did not finish; the message holds the tail of its log."""


@dataclass(frozen=True)
class Progress:
    elapsed_s: float
    duration_s: float
    requests: int
    failures: int
    dropped: int
    rps: float


def command(scenario_file: Path, out: Path, *, host: str, seed: int, users: int | None, generators: int | None,
            in_flight: int | None, ui: bool, stop_timeout_s: float, state_file: str | None = None,
            think: str = "1,3") -> list[str]:
    """The `locust` command line for a run.

    >>> cmd = command(Path("s.json"), Path("o"), host="http://127.0.0.1:1", seed=3, users=None, generators=2,
    ...               in_flight=None, ui=False, stop_timeout_s=10)
    >>> cmd[3:5], "--processes" in cmd, "--halab-closed" in cmd, cmd[cmd.index("--csv") + 1]
    (['-f', '...locustfile.py'], True, False, 'o/locust')
    """
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", host, "--halab-scenario", str(scenario_file),
           "--halab-seed", str(seed), "--halab-out", str(out), "--csv", str(out / "locust"), "--html",
           str(out / "locust.html"), "--loglevel", "INFO"]
    # The web UI's run starts at once (its time 0 is the nemesis's) and stays a minute after it ends.
    cmd += ["--web-host", "127.0.0.1", "--autostart", "--autoquit", str(UI_LINGER_S)] if ui else ["--headless"]
    if users is not None:
        # Closed users finish the request they are in at the end; the open model has drained its own.
        cmd += ["--halab-closed", "-u", str(users), "--halab-think", think, "--stop-timeout", f"{stop_timeout_s:g}"]
    if in_flight:
        cmd += ["--halab-max-in-flight", str(in_flight)]
    if generators:
        cmd += ["--processes", str(generators)]
    if state_file:
        cmd += ["--halab-state", state_file]
    return cmd


def progress(out: Path, elapsed: float, duration: float) -> Progress:
    """From Locust's live CSV (rewritten every second): the aggregate and the dropped rows."""
    requests = failures = dropped = 0
    rps = 0.0
    with contextlib.suppress(OSError, ValueError, KeyError):
        with open(out / "locust_stats.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["Name"] == "Aggregated":
                    requests, failures = int(row["Request Count"]), int(row["Failure Count"])
                    rps = float(row["Requests/s"])
                elif row["Type"] == "DROPPED":
                    dropped += int(row["Request Count"])
    return Progress(elapsed, duration, requests, failures, dropped, rps)


def locust_load(lab: Lab, scenario: Scenario, *, out: Path, seed: int = 0, workers: int | None = None, generators: int | None = None,
                users: int | None = None, ui: bool = False, think: str = "1,3",
                on_progress: Callable[[Progress], None] | None = None, tick_s: float = 5.0,
                during: Callable[[Recorder], AbstractContextManager] | None = None,
                on_tick=None) -> tuple[list[Op], dict]:
    """Run `scenario`'s load (not its faults: `during` runs those) through Locust against
    `lab`; returns the merged history and the generators' figures, like measure.measure.
    `workers`: requests in flight at most (the open model's cap); `generators`: Locust
    worker processes (None: one process, Locust's local runner); `users`: the closed model
    with that many users."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "t0").unlink(missing_ok=True)
    load_only = out / "load-scenario.json"
    load_only.write_text(json.dumps(dataclasses.replace(scenario, faults=()).to_dict()), encoding="utf-8")
    timeout = lab.plan.topology.params.timeouts.request_s
    cmd = command(load_only, out, host=lab.state.vip_url, seed=seed, users=users, generators=generators,
                  in_flight=workers, ui=ui, stop_timeout_s=timeout, state_file=str(lab.state_file), think=think)
    log_path = out / "locust.log"
    with open(log_path, "wb") as log, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT) as proc:
        try:
            t0 = _wait_t0(proc, out, log_path, timeout_s=START_S)
            recorder = Recorder(clock=time.time, t0=t0)
            with during(recorder) if during else contextlib.nullcontext():
                next_tick = tick_s
                while proc.poll() is None:
                    time.sleep(0.2)
                    if on_progress and recorder.now() >= next_tick:
                        on_progress(progress(out, recorder.now(), scenario.load.duration_s))
                        next_tick += tick_s
                if proc.returncode not in (0, 1):  # 1: Locust saw failed requests, which a fault run expects
                    raise LoadError(f"locust exited {proc.returncode}:\n{_tail(log_path)}")
                recorder.absorb(read_jsonl(out / "history.jsonl"))
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    _keep_summary(log_path, out / "locust-summary.txt")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    keys = ("model", "generators", "requests", "dropped", "late_starts", "max_start_lag_s", "workers")
    return recorder.history(), {"seed": seed, "load": "locust", **{k: summary[k] for k in keys if k in summary}}


def under_load(out: str | Path, **kwargs) -> Callable[..., tuple[list[Op], dict]]:
    """A background Locust load for chaos/run.py's `run(load=...)`: the pytest helper of the
    catalogue's scenarios marked under load (and of `halab chaos run` for them)."""
    return functools.partial(locust_load, out=Path(out), **kwargs)


def _wait_t0(proc: subprocess.Popen, out: Path, log_path: Path, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while (t0 := read_t0(out)) is None:
        if proc.poll() is not None:
            raise LoadError(f"locust exited {proc.returncode} before its first arrival:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            raise LoadError(f"locust did not start within {timeout_s:.0f} s:\n{_tail(log_path)}")
        time.sleep(0.05)
    return t0


def _keep_summary(log_path: Path, to: Path) -> None:
    """Locust's own end-of-run tables (requests, percentiles, errors), from its log."""
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Type     Name")]
    if starts:
        to.write_text("\n".join(line for line in lines[starts[-2] if len(starts) > 1 else starts[0]:]
                                if not line.startswith("[")) + "\n", encoding="utf-8")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
