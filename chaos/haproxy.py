"""HAProxy's Runtime API (TCP, `level admin`): drain a gateway on every LB before it restarts,
wait until its sessions end, make it ready again after. What an operator does for a rolling
restart; without it, requests in flight on the restarted node fail."""

from __future__ import annotations

import csv
import io
import socket

from harness.topology.components.lb import RUNTIME_PORT
from harness.waiting import eventually

BACKEND = "gateways"


def runtime(address: str, command: str, timeout_s: float = 2.0) -> str:
    with socket.create_connection((address, RUNTIME_PORT), timeout=timeout_s) as s:
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def _lbs(state) -> list[str]:
    return [c["address"] for c in state.components.values() if c["kind"] == "lb"]


def _each(state, command: str) -> None:
    for address in _lbs(state):
        try:
            runtime(address, command)
        except OSError:
            pass  # an LB that is down routes nothing


def sessions(state, server: str) -> int:
    total = 0
    for address in _lbs(state):
        try:
            text = runtime(address, "show stat")
        except OSError:
            continue
        for row in csv.DictReader(io.StringIO(text.lstrip("# "))):
            if row.get("pxname") == BACKEND and row.get("svname") == server:
                total += int(row.get("scur") or 0)
    return total


def drain(state, servers: list[str], timeout_s: float = 30.0) -> None:
    """No new requests to `servers` on any LB; returns once their sessions are done."""
    for server in servers:
        _each(state, f"set server {BACKEND}/{server} state drain")
    eventually(lambda: all(sessions(state, s) == 0 for s in servers), timeout_s=timeout_s,
               what=f"{', '.join(servers)} drained", poll_s=0.2)


def ready(state, servers: list[str]) -> None:
    for server in servers:
        _each(state, f"set server {BACKEND}/{server} state ready")
