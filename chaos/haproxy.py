"""HAProxy's Runtime API (TCP, `level admin`): drain a gateway on every LB before it restarts,
wait until its sessions end, make it ready again after and wait until every LB has it UP.
What an operator does for a rolling restart; without the drain, requests in flight on the
restarted node fail; without the wait, the next node goes down while this one is still out."""

from __future__ import annotations

import csv
import io
import socket

from harness.topology.components.lb import RUNTIME_PORT
from harness.topology.state import State
from harness.waiting import eventually

BACKEND = "gateways"


def runtime(address: str, command: str, timeout_s: float = 2.0) -> str:
    with socket.create_connection((address, RUNTIME_PORT), timeout=timeout_s) as s:
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def _lbs(state: State) -> list[str]:
    return [c.address for c in state.of_kind("lb")]


def _each(state: State, command: str) -> None:
    for address in _lbs(state):
        try:
            runtime(address, command)
        except OSError:
            pass  # an LB that is down routes nothing


def _rows(state: State, server: str) -> list[dict]:
    """The server's row of `show stat` on each LB that answers (one that is down routes nothing)."""
    rows = []
    for address in _lbs(state):
        try:
            text = runtime(address, "show stat")
        except OSError:
            continue
        rows += [r for r in csv.DictReader(io.StringIO(text.lstrip("# ")))
                 if r.get("pxname") == BACKEND and r.get("svname") == server]
    return rows


def sessions(state: State, server: str) -> int:
    return sum(int(r.get("scur") or 0) for r in _rows(state, server))


def up_everywhere(state: State, server: str) -> bool:
    """UP on every LB that answers: rising ("DOWN 1/2"), draining or in maintenance is not."""
    rows = _rows(state, server)
    return bool(rows) and all(r.get("status") == "UP" for r in rows)


def drain(state: State, servers: list[str], timeout_s: float = 30.0) -> None:
    """No new requests to `servers` on any LB; returns once their sessions are done."""
    for server in servers:
        _each(state, f"set server {BACKEND}/{server} state drain")
    eventually(lambda: all(sessions(state, s) == 0 for s in servers), timeout_s=timeout_s,
               what=f"{', '.join(servers)} drained", poll_s=0.2)


def ready(state: State, servers: list[str], timeout_s: float = 60.0) -> None:
    """Back in rotation: ready on every LB, and returns once every LB has it UP again (its
    `rise` checks passed), as an operator waits before taking the next node down."""
    for server in servers:
        _each(state, f"set server {BACKEND}/{server} state ready")
    eventually(lambda: all(up_everywhere(state, s) for s in servers), timeout_s=timeout_s,
               what=f"{', '.join(servers)} UP on every LB", poll_s=0.2)
