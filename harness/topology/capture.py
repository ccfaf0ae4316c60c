"""A packet capture on one run's own bridges (tshark from Debian): what crosses the lab's wires.

    with Capture(client, run_id, out / "wire.pcapng") as wire:
        ...                                   # traffic
    wire.holds(b"the question")               # False when every hop is TLS

Each labelled network is a Linux bridge on the host; capturing there sees every packet
between the lab's containers (and the host's own connections into them), which is the view
of someone on the datacenter's network. Nothing else is captured: only the run's bridges.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

from harness.labels import LABEL
from harness.waiting import eventually

# The wire needs tshark (and its dumpcap); harness/docker_engine.ensure_tools installs it.
CAPTURE_TOOLS = {"tshark": "tshark"}
_START_TIMEOUT_S = 20.0


def bridges(client, run_id: str) -> list[str]:
    """The Linux bridge of each of the run's networks."""
    names = []
    for net in client.networks.list(filters={"label": f"{LABEL}={run_id}"}):
        net.reload()
        options = net.attrs.get("Options") or {}
        names.append(options.get("com.docker.network.bridge.name") or f"br-{net.id[:12]}")
    return sorted(names)


class Capture:
    """tshark on every bridge of the run, writing `path` until the block ends."""

    def __init__(self, client, run_id: str, path: Path) -> None:
        self.interfaces = bridges(client, run_id)
        if not self.interfaces:
            raise RuntimeError(f"run {run_id} has no networks to capture on")
        if shutil.which("tshark") is None:
            raise RuntimeError("tshark is missing: harness.docker_engine.ensure_tools(CAPTURE_TOOLS, ...) installs it")
        self.path = path
        self._log = path.with_suffix(".log")
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> Capture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        args = ["tshark", "-q", "-w", str(self.path)] + [a for i in self.interfaces for a in ("-i", i)]
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=log)
        # tshark says "Capturing on ..." once dumpcap has opened every interface.
        eventually(self._capturing, _START_TIMEOUT_S, poll_s=0.1,
                   error=lambda w: RuntimeError(f"tshark did not start capturing within {w.timeout_s} s: {self._log.read_text()[-400:]}"))
        return self

    def _capturing(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"tshark exited {self._proc.returncode}: {self._log.read_text()[-400:]}")
        return "Capturing on" in self._log.read_text(errors="replace")

    def __exit__(self, *exc) -> None:
        if self._proc is None:
            return
        self._proc.terminate()  # SIGTERM: tshark flushes and closes the file
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def wait_for(self, text: bytes, timeout_s: float = 20.0) -> None:
        """Until `text` is in the file: dumpcap writes in batches, so a check right after the
        traffic could read a file without its last packets. Send a marker last, wait for it."""
        eventually(lambda: self.holds(text), timeout_s, poll_s=0.2,
                   error=lambda w: RuntimeError(f"{text!r} never reached {self.path} (interfaces: {', '.join(self.interfaces)})"))

    def bytes(self) -> bytes:
        return self.path.read_bytes()

    def holds(self, text: bytes) -> bool:
        """Whether `text` crossed a wire in clear: as is, or base64 at any alignment (etcd's
        JSON gateway and some clients carry values that way)."""
        raw = self.bytes()
        return text in raw or any(form in raw for form in _base64_forms(text))


def _base64_forms(text: bytes) -> list[bytes]:
    """The stretch of base64 that `text` always encodes to, whatever precedes it."""
    forms = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + text)
        # Skip the characters that the padding bytes touch, and the last group (what follows changes it).
        start = (shift * 4 + 2) // 3
        forms.append(encoded[start:len(encoded) - 4])
    return forms
