"""Make sure a Docker engine answers, installing Debian's `docker.io` when we may.

The machines halab runs on come without a running engine; as root on Debian the engine is
one `apt-get install` away (DESIGN.md section 5). Anywhere else we say what to do and stop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException

from harness.waiting import eventually

DOCKERD_LOG = Path("/var/log/halab/dockerd.log")
START_TIMEOUT_S = 60.0


class EngineUnavailable(RuntimeError):
    """No engine answers and we cannot start one; the message says what to do."""


@dataclass(frozen=True)
class EngineInfo:
    server_version: str
    storage_driver: str
    started_by_us: bool


def ping() -> EngineInfo | None:
    try:
        client = docker.from_env(timeout=5)
        info = client.info()
    except DockerException:
        return None
    return EngineInfo(info.get("ServerVersion", "?"), info.get("Driver", "?"), started_by_us=False)


def ensure_engine(progress=print) -> EngineInfo:
    """Return the running engine, installing and starting `dockerd` first if needed."""
    info = ping()
    if info is not None:
        return info
    if os.geteuid() != 0:
        raise EngineUnavailable(
            "no Docker engine answers and this is not root: start dockerd (or run `sudo halab doctor`)"
        )
    if not Path("/etc/debian_version").exists():
        raise EngineUnavailable("no Docker engine answers and this is not Debian: install and start Docker, then retry")
    if shutil.which("dockerd") is None:
        progress("installing docker.io from Debian ...")
        _run(["apt-get", "update", "-qq"], "apt-get update")
        _run(["apt-get", "install", "-y", "-qq", "docker.io"], "apt-get install docker.io")
    progress(f"starting dockerd (log: {DOCKERD_LOG}) ...")
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    info = eventually(ping, START_TIMEOUT_S, poll_s=0.5, retry=(),
                      error=lambda _w: EngineUnavailable(f"dockerd did not answer within {START_TIMEOUT_S:.0f} s: see {DOCKERD_LOG}"))
    return EngineInfo(info.server_version, info.storage_driver, started_by_us=True)


# The nemesis enters containers' network namespaces with the host's tools (harness/netns.py).
FAULT_TOOLS = {"iptables": "iptables", "nsenter": "util-linux"}
# The reports' test opens the pages in a headless browser.
BROWSER_TOOLS = {"chromium": "chromium"}


def ensure_fault_tools(progress=print) -> list[str]:
    """Install iptables and nsenter when missing (root on Debian); returns what was installed."""
    return ensure_tools(FAULT_TOOLS, "network faults", progress)


def ensure_tools(tools: dict[str, str], why: str, progress=print) -> list[str]:
    """Install the Debian packages of the `tools` (command -> package) that are missing, as
    root on Debian; elsewhere say what to install. Returns the packages installed."""
    missing = sorted({pkg for tool, pkg in tools.items() if shutil.which(tool) is None})
    if not missing:
        return []
    if os.geteuid() != 0 or not Path("/etc/debian_version").exists():
        raise EngineUnavailable(f"{why} need {', '.join(tools)}: install {', '.join(missing)}")
    progress(f"installing {', '.join(missing)} from Debian ({why}) ...")
    _run(["apt-get", "update", "-qq"], "apt-get update")
    _run(["apt-get", "install", "-y", "-qq", *missing], f"apt-get install {' '.join(missing)}")
    return missing


def _run(cmd: list[str], what: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise EngineUnavailable(f"{what} failed ({tail[0]}): check the package mirror, then retry")
