"""Helpers of the LLM stub tests: constants and the stub as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

KEY = "sk-test-current"
ADMIN = "admin-test-token"
REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StubProcess:
    """`python -m system.llm_stub` on 127.0.0.1, stopped on exit."""

    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "HALAB_LLM_STUB_HOST": "127.0.0.1", "HALAB_LLM_STUB_PORT": str(self.port),
                    "HALAB_LLM_STUB_API_KEY": KEY, "HALAB_LLM_STUB_ADMIN_TOKEN": ADMIN,
                    "HALAB_LLM_STUB_LOG_LEVEL": "warning", **env}
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"llm_stub-{self.port}.log", "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "system.llm_stub"], cwd=REPO, env=full_env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stub exited with {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("stub did not become healthy")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
