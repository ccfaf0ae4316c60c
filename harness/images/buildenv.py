"""What a recipe builds with (`BuildEnv`: the engine, the checkout, a cache, a way to report),
how a build fails (`BuildError`), and whether the engine has an image (`exists`).

Both recipes.py and build.py import this, so recipes need not import build (which imports
them). Importing it does not import docker: the catalog, and so `harness.images`, stay light.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker


class BuildError(RuntimeError):
    """A build step failed; the message is one line naming the cause and the fix."""


CACHE_DIR = Path(os.environ.get("HALAB_CACHE_DIR", Path.home() / ".cache" / "halab"))
HEARTBEAT_S = 15.0
# Where Go lives when it is not on PATH (the official tarball; Debian's golang-go).
GO_CANDIDATES = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")


@dataclass
class BuildEnv:
    """What a recipe may use: the engine, the checkout, a cache, and a way to report."""

    client: docker.DockerClient
    root: Path
    image: str
    hash: str
    progress: Callable[[str], None] = print
    cache_dir: Path = field(default_factory=lambda: CACHE_DIR)
    python: str = sys.executable
    python_version: str = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    force: bool = False  # also bypass Docker's layer cache
    _started: float = field(default_factory=time.monotonic)

    def say(self, msg: str) -> None:
        self.progress(f"[{self.image}] {msg}")

    def labels(self) -> dict[str, str]:
        return {"halab.image": self.image, "halab.input-hash": self.hash}

    def log_path(self, step: str) -> Path:
        return self.cache_dir / "logs" / f"{self.image}-{step}.log"

    @contextlib.contextmanager
    def tempdir(self) -> Iterator[Path]:
        # Under the cache dir, not /tmp: a Debian rootfs or three Go binaries are large.
        base = self.cache_dir / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{self.image}-", dir=base))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def go(self) -> str:
        go = shutil.which("go") or next((p for p in GO_CANDIDATES if Path(p).is_file()), None)
        if go is None:
            raise BuildError(
                "no Go toolchain: install Go >= 1.24 from https://go.dev/dl into /usr/local/go, then retry"
            )
        return go

    def go_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS=os.environ.get("GOFLAGS", ""))
        env.setdefault("GOTOOLCHAIN", "local")
        env.update(extra)
        return env

    def step(self, cmd: list[str], name: str, env: dict | None = None, cwd: Path | None = None, stdin=None) -> None:
        """Run one long command, output to a log file, a heartbeat line while it runs."""
        log = self.log_path(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with log.open("wb") as fh:
            fh.write(("$ " + " ".join(cmd) + "\n").encode())
            fh.flush()
            try:
                proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd, stdin=stdin)
            except FileNotFoundError:
                raise BuildError(f"{cmd[0]} is not installed: install it, then retry") from None
            while True:
                try:
                    proc.wait(timeout=HEARTBEAT_S)
                    break
                except subprocess.TimeoutExpired:
                    self.say(f"  ... {name} still running ({time.monotonic() - started:.0f} s; log {log})")
        took = time.monotonic() - started
        if proc.returncode != 0:
            raise BuildError(f"{name} failed (exit {proc.returncode}): {_last_line(log)} — full log: {log}")
        self.say(f"  {name} done in {took:.1f} s")

    def docker_build(self, fileobj, tag: str, **kwargs) -> None:
        import docker.errors

        started = time.monotonic()
        log = self.log_path("docker-build")
        log.parent.mkdir(parents=True, exist_ok=True)
        last = ""
        with log.open("w") as fh:
            try:
                for chunk in self.client.api.build(
                    fileobj=fileobj, tag=tag, rm=True, forcerm=True, pull=False, decode=True, nocache=self.force,
                    **kwargs
                ):
                    if "stream" in chunk:
                        fh.write(chunk["stream"])
                        if chunk["stream"].strip():
                            last = chunk["stream"].strip()
                    if "error" in chunk:
                        fh.write(chunk["error"] + "\n")
                        raise BuildError(f"docker build failed: {chunk['error'].strip()} — full log: {log}")
            except docker.errors.APIError as exc:
                raise BuildError(f"docker build failed: {exc.explanation or exc} — full log: {log}") from None
        self.say(f"  docker build done in {time.monotonic() - started:.1f} s ({last[:60]})")


def _last_line(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip()[:200] if lines else "(no output)"


def exists(client, tag: str) -> bool:
    """Whether the engine behind `client` has the image `tag`."""
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False
