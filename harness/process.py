"""One of the platform's services as a host process: `python -m system.<module>` on 127.0.0.1.

Tests and local development run a service this way against real containers, without
building the python image. Output goes to a log file, never to the caller's terminal;
`tail()` shows its end when something goes wrong.

    with ServiceProcess("llm_stub", {"HALAB_LLM_STUB_API_KEY": key}) as stub:
        httpx.post(stub.url + "/v1/chat/completions", ...)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from harness.waiting import eventually

REPO = Path(__file__).resolve().parents[1]


_handed_out: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 now, and never one this process handed out before.

    The kernel may give the same ephemeral port to two binds in a row once the first socket is
    closed; two nodes told the same port then collapse into one and a mesh test sees one peer."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


class ServiceProcess:
    """Started by `start()` (or `with`), restartable on the same port; settings by environment.

    The caller's own HALAB_* variables are not inherited: a service sees exactly `env`.
    """

    def __init__(self, module: str, env: dict[str, str] | None = None, port: int | None = None,
                 log_dir: Path | None = None, label: str | None = None, ready_path: str = "/healthz") -> None:
        self.module = module
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(env or {})
        self.ready_path = ready_path
        self.log = Path(log_dir or tempfile.gettempdir()) / f"{label or module}-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True, timeout: float = 30.0) -> ServiceProcess:
        prefix = f"HALAB_{self.module.upper()}_"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HALAB_")}
        env |= {f"{prefix}HOST": "127.0.0.1", f"{prefix}PORT": str(self.port), "PYTHONPATH": str(REPO),
                "NO_PROXY": "*", "no_proxy": "*"}
        env |= self.env
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", f"system.{self.module}"], cwd=REPO, env=env,
                                         stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        def healthy() -> bool:
            if self.proc.poll() is not None:  # not "not yet": raised at once
                raise RuntimeError(f"{self.module} exited {self.proc.returncode}: {self.tail()}")
            return httpx.get(self.url + self.ready_path, timeout=1, trust_env=False).status_code == 200

        eventually(healthy, timeout, poll_s=0.05, retry=(httpx.HTTPError,),
                   error=lambda _w: RuntimeError(f"{self.module} not healthy after {timeout} s: {self.tail()}"))

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, n: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-n:])

    def stop(self, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill() if kill else self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
