"""`halab images build`: build what is missing, parents first, never tagging a half-built image.

Each image is built under `halab/<image>:building-<hash>` and retagged to
`halab/<image>:<hash>` only after its recipe returned; on any failure the temporary tag is
removed. An image whose final tag exists is skipped, so a warm rerun takes seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from harness.images.catalog import COMPONENTS, IMAGES, images_for
from harness.images.hashing import REPOSITORY, input_hash, project_root
from harness.images.recipes import BuildError

CACHE_DIR = Path(os.environ.get("HALAB_CACHE_DIR", Path.home() / ".cache" / "halab"))
HEARTBEAT_S = 15.0
SOURCES = ("offline", "official", "auto")
REGISTRY_PROBE_TIMEOUT_S = 5.0
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


@dataclass(frozen=True)
class Result:
    image: str
    tag: str
    action: str  # built | cached | pulled | failed
    seconds: float
    size: int = 0
    error: str = ""


def final_tag(image: str, hash_: str) -> str:
    return f"{REPOSITORY}/{image}:{hash_}"


def exists(client, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_image(client, image: str, root: Path, progress=print, force: bool = False) -> Result:
    """Build one image (its parents must be built); retag only on success."""
    recipe = IMAGES[image].recipe
    hash_ = input_hash(image, root)
    tag = final_tag(image, hash_)
    started = time.monotonic()
    if not force and exists(client, tag):
        return Result(image, tag, "cached", time.monotonic() - started, client.images.get(tag).attrs["Size"])
    parent_tag = final_tag(recipe.parent, input_hash(recipe.parent, root)) if recipe.parent else None
    if parent_tag and not exists(client, parent_tag):
        raise BuildError(f"parent image {parent_tag} of {image} is missing: run `halab images build {recipe.parent}`")
    # Per process: two builders of one tag (parallel test runs) never remove each other's.
    temp = f"{REPOSITORY}/{image}:building-{hash_}-{os.getpid()}"
    env = BuildEnv(client=client, root=root, image=image, hash=hash_, progress=progress, force=force)
    env.say(f"building {tag} ...")
    try:
        recipe.build(env, temp, parent_tag)
        client.images.get(temp).tag(tag)
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            client.images.remove(temp, noprune=True)
    size = client.images.get(tag).attrs["Size"]
    took = time.monotonic() - started
    env.say(f"built {tag} in {took:.1f} s ({size / 1e6:.0f} MB)")
    return Result(image, tag, "built", took, size)


def registry_answers(client, ref: str, timeout: float = REGISTRY_PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """Whether the engine can pull `ref` within `timeout` seconds (it pulls it if so)."""
    outcome: dict[str, object] = {}

    def pull() -> None:
        try:
            client.images.pull(ref)
            outcome["ok"] = True
        except Exception as exc:  # noqa: BLE001 - any failure means "no registry"
            outcome["error"] = getattr(exc, "explanation", None) or str(exc)

    t = threading.Thread(target=pull, daemon=True)
    t.start()
    t.join(timeout)
    if outcome.get("ok"):
        return True, ""
    return False, str(outcome.get("error") or f"no answer within {timeout:.0f} s")


def build(
    names: list[str] | tuple[str, ...] = (),
    source: str = "offline",
    progress: Callable[[str], None] = print,
    client=None,
    root: Path | None = None,
    force: bool = False,
) -> list[Result]:
    """Build the images the named components need (all default images when none are named)."""
    if source not in SOURCES:
        raise BuildError(f"unknown source {source!r}: choose from {', '.join(SOURCES)}")
    client = client or docker.from_env(timeout=600)
    root = root or project_root()
    wanted = list(names) if names else [name for name, img in IMAGES.items() if img.default]
    order = images_for(wanted)  # raises UnknownComponent first, before anything is built
    results: list[Result] = []
    if source in ("official", "auto"):
        named = list(names) or list(COMPONENTS)
        pullable = [n for n in named if n in COMPONENTS and COMPONENTS[n].official]
        if pullable:
            ref = COMPONENTS[pullable[0]].official
            ok, why = registry_answers(client, ref)
            why = why.strip().splitlines()[0][:160] if why.strip() else "no answer"
            if not ok and source == "official":
                raise BuildError(f"no registry answers for {ref} ({why}): use --source offline (or auto)")
            if ok:
                rest = [n for n in named if n not in pullable]
                results = _pull_official(client, pullable, progress)
                return results + [build_image(client, img, root, progress, force) for img in images_for(rest)]
            progress(f"no registry answers ({why}); building offline")
    for image in order:
        results.append(build_image(client, image, root, progress, force))
    return results


def _pull_official(client, names, progress) -> list[Result]:
    out = []
    for name in names:
        ref = COMPONENTS[name].official
        if not ref:
            continue
        started = time.monotonic()
        progress(f"[{name}] pulling {ref} ...")
        try:
            img = client.images.pull(ref)
        except docker.errors.APIError as exc:
            raise BuildError(f"pulling {ref} failed: {exc.explanation or exc}") from None
        out.append(Result(name, ref, "pulled", time.monotonic() - started, img.attrs["Size"]))
    return out
