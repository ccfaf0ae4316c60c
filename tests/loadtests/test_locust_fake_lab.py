"""The Locust side of the lab against a fake lab (tests/loadtests/fake_lab.py: a state file
and a canned-answer HTTP server on 127.0.0.1, no platform behind it): real Locust processes,
the open and closed models, the dropped arrivals, the merged history of several workers."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fake_lab import FakeServer, write_state

from harness.clients.driver import arrivals
from harness.history import read_jsonl
from loadtests.options import plan
from loadtests.run import LOCUSTFILE

pytestmark = pytest.mark.slow


def locust(tmp_path, server, *args: str) -> tuple[subprocess.CompletedProcess, list, dict]:
    import json

    state = write_state(tmp_path, server.port)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
           "--halab-state", str(state), "--halab-out", str(out), "--csv", str(out / "locust"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert (out / "history.jsonl").exists(), done.stderr[-3000:]
    return done, read_jsonl(out / "history.jsonl"), json.loads((out / "summary.json").read_text())


def planned(rate: float, duration: float, seed: int = 0) -> list:
    from types import SimpleNamespace as NS

    opts = NS(halab_rate=rate, halab_shape="steady", halab_scenario="", halab_duration=duration, run_time=None,
              halab_think="1,3")
    return arrivals(plan(opts).scenario.load, seed)


def test_open_model_fires_every_planned_arrival_once_at_its_time(tmp_path):
    with FakeServer() as server:
        done, history, summary = locust(tmp_path, server, "--halab-rate", "40", "--halab-duration", "4")
    assert done.returncode == 0, done.stderr[-2000:]
    want = planned(40, 4)
    invokes = [op for op in history if op.type == "invoke"]
    assert [(round(op.time, 6), op.f) for op in sorted(invokes, key=lambda o: o.process)] == \
        [(round(at, 6), f) for at, f in want]
    assert summary["model"] == "open" and summary["dropped"] == 0
    assert all(op.type == "ok" and op.site == "dc1" for op in history if op.is_completion)


def test_a_full_in_flight_cap_records_dropped_arrivals_at_their_intended_times(tmp_path):
    with FakeServer(delay_s=1.0) as server:
        done, history, summary = locust(tmp_path, server, "--halab-rate", "20", "--halab-duration", "3",
                                        "--halab-max-in-flight", "4")
    want = dict(enumerate(planned(20, 3)))
    drops = [op for op in history if op.error == "dropped"]
    assert drops and summary["dropped"] == len(drops)
    assert all(op.type == "fail" and op.latency == 0.0 and round(want[op.process][0], 6) == op.time for op in drops)
    assert len([op for op in history if op.type == "invoke"]) == len(want)  # none silently skipped
    assert done.returncode == 1  # Locust counts the dropped arrivals as failures


def test_two_workers_merge_into_one_history_of_the_same_plan(tmp_path):
    with FakeServer() as server:
        done, history, summary = locust(tmp_path, server, "--halab-rate", "40", "--halab-duration", "4",
                                        "--processes", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    invokes = sorted(op.process for op in history if op.type == "invoke")
    assert invokes == list(range(len(planned(40, 4))))
    assert summary["generators"] == 2


def test_the_closed_model_says_it_is_one(tmp_path):
    with FakeServer() as server:
        done, history, summary = locust(tmp_path, server, "-u", "3", "-t", "4s", "--halab-think", "0.1,0.2")
    assert "CLOSED model" in done.stderr
    assert summary["model"] == "closed"
    assert {op.f for op in history if op.type == "ok"} >= {"rag_query", "policy_list"}


def test_bad_options_are_refused_before_anything_starts(tmp_path):
    with FakeServer() as server:
        state = write_state(tmp_path, server.port)
        done = subprocess.run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--halab-state",
                               str(state), "--halab-scenario", "no-such"], capture_output=True, text=True, timeout=60)
        assert server.requests == 0
    assert done.returncode != 0 and "unknown scenario 'no-such'" in done.stderr
    done = subprocess.run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--halab-state",
                           str(tmp_path / "none.json")], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "no lab is running" in done.stderr


def test_the_web_ui_serves_while_the_run_goes(tmp_path):
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with FakeServer() as server:
        state = write_state(tmp_path, server.port)
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--web-host", "127.0.0.1", "--web-port", str(port),
               "--autostart", "--autoquit", "1", "--halab-state", str(state), "--halab-out", str(out),
               "--halab-rate", "20", "--halab-duration", "3"]
        with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
            seen = None
            for _ in range(100):
                try:
                    seen = httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            proc.wait(timeout=60)
    assert seen == 200
    assert len([op for op in read_jsonl(out / "history.jsonl") if op.type == "ok"]) == len(planned(20, 3))
