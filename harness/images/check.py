"""`halab images check`: start each component's image alone and wait for its own health signal.

Every check runs on a fresh labelled internal network (no route off the machine) through
the same harness.containers classes the tests and the topology use, and removes what it
started, pass or fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from harness.images.catalog import COMPONENTS, component
from harness.images.hashing import project_root
from harness.kinds import INSTRUMENTS, KINDS
from harness.labels import labels

# Addresses, not names: a name that does not resolve stops HAProxy, and on an internal
# network an unknown name takes the resolver's full timeout to fail.
LB_TEST_CONFIG = """\
global
    log stdout format raw local0
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend users
    bind *:80
    default_backend apps
backend apps
    option httpchk GET /healthz
    server app1 127.0.0.1:8001 check inter 2s fall 3 rise 2
    server app2 127.0.0.1:8002 check inter 2s fall 3 rise 2
"""


@dataclass(frozen=True)
class CheckResult:
    component: str
    image: str
    signal: str
    ok: bool
    seconds: float
    detail: str = ""


def service_exists(service: str, root: Path | None = None) -> bool:
    root = root or project_root()
    return (root / "system" / service / "__main__.py").is_file()


def run_once(client, image: str, command: list[str], run_id: str, network: str, comp: str,
             files: dict[str, bytes] | None = None, timeout: float = 60.0) -> tuple[int, str]:
    """Run a one-shot labelled container on `network`; return (exit code, output). Always removed."""
    import io
    import tarfile

    container = client.containers.create(
        image, command=command, labels=labels(run_id, component=comp), network=network, detach=True
    )
    try:
        if files:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                for path, data in files.items():
                    info = tarfile.TarInfo(path.lstrip("/"))
                    info.size = len(data)
                    info.mode = 0o644
                    tar.addfile(info, io.BytesIO(data))
            container.put_archive("/", buf.getvalue())
        container.start()
        code = container.wait(timeout=timeout)["StatusCode"]
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def check_component(name: str, run_id: str, network, client, root: Path | None = None,
                    image: str | None = None) -> CheckResult:
    from harness import containers as hc
    from harness.images import ImageNotBuilt, image_for

    comp = component(name)
    started = time.monotonic()
    if image is None:
        try:
            image = image_for(name, client)
        except ImageNotBuilt as exc:
            return CheckResult(name, "-", comp.health, False, 0.0, str(exc))

    def done(ok: bool, signal: str, detail: str = "") -> CheckResult:
        return CheckResult(name, image, signal, ok, time.monotonic() - started, detail)

    classes = {k.image: getattr(hc, k.container) for k in (*KINDS.values(), *INSTRUMENTS) if k.container}
    try:
        if name in classes:
            with classes[name](run_id, image).on_network(network, name).with_ready_timeout(60):
                return done(True, comp.health)
        if name == "lb":
            code, out = run_once(client, image, ["haproxy", "-c", "-f", "/etc/haproxy/check.cfg"], run_id,
                                 network.name, name, files={"/etc/haproxy/check.cfg": LB_TEST_CONFIG.encode()})
            if code != 0:
                return done(False, "haproxy -c", out.strip().splitlines()[-1] if out.strip() else f"exit {code}")
            with hc.HaproxyContainer(run_id, image).with_config(LB_TEST_CONFIG).on_network(network, "lb"):
                return done(True, "haproxy -c, then monitor-uri /healthz")
        # a Python service
        if service_exists(name, root):
            with hc.PythonServiceContainer(run_id, name, image).on_network(network, name).with_ready_timeout(60):
                return done(True, f"/healthz of python -m system.{name}")
        code, out = run_once(client, image, ["python", "-c", "import system"], run_id, network.name, name)
        signal = f"import system (system/{name}/__main__.py does not exist yet)"
        return done(code == 0, signal, "" if code == 0 else out.strip().splitlines()[-1:][0] if out.strip() else "")
    except Exception as exc:  # noqa: BLE001 - a check reports, it does not crash
        return done(False, comp.health, f"{exc.__class__.__name__}: {str(exc)[:400]}")


def check(names: list[str] | tuple[str, ...] = (), run_id: str | None = None,
          progress: Callable[[CheckResult], None] | None = None, client=None) -> list[CheckResult]:
    """Check the named components (all when none are named); every container is removed after."""
    from harness.containers import InternalNetwork
    from harness.labels import new_run_id, remove_labelled

    names = list(names) or list(COMPONENTS)
    for n in names:
        component(n)  # unknown names fail before anything starts
    client = client or docker.from_env(timeout=120)
    run_id = run_id or new_run_id("images-check")
    from harness.images import ImageNotBuilt, image_for

    # Resolve every tag first: the source may change while the checks run (a shared
    # checkout), and one check run should test one consistent set of images.
    tags: dict[str, str | None] = {}
    missing: dict[str, str] = {}
    for name in names:
        try:
            tags[name] = image_for(name, client)
        except ImageNotBuilt as exc:
            tags[name] = None
            missing[name] = str(exc)
    results = []
    try:
        with InternalNetwork(run_id, "check", client=client) as net:
            for name in names:
                if tags[name] is None:
                    result = CheckResult(name, "-", component(name).health, False, 0.0, missing[name])
                else:
                    result = check_component(name, run_id, net, client, image=tags[name])
                results.append(result)
                if progress:
                    progress(result)
    finally:
        remove_labelled(client, run_id)
    return results
