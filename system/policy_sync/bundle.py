"""OPA's bundle format and long polling, as policy_sync serves its policies to OPA.

OPA recompiles every loaded module on each `PUT /v1/policies/{id}`, so N distinct updates
cost N whole-program compiles. A bundle carries every policy at once: OPA downloads it,
compiles once and activates it, however many policies changed. With long polling
(`Prefer: wait=N` and `If-None-Match`), OPA's request waits here until there is a newer
bundle, so a change reaches OPA as soon as its last compile is done.

    >>> b = Bundle.of({"authz": "package halab.authz\\nallow := true\\n"}, revision=42, tag="a1")
    >>> b.etag, b.roots, sorted(b.files)
    ('42.a1', ['halab/authz'], ['/authz.rego'])
    >>> policy_of("/authz.rego"), policy_of("authz.rego"), policy_of("/.manifest")
    ('authz', 'authz', None)
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import tarfile
import threading
from dataclasses import dataclass, field

NAME = "policies"
RESOURCE = f"bundles/{NAME}.tar.gz"
CONTENT_TYPE = "application/vnd.openpolicyagent.bundles"  # tells OPA this server long-polls
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)


def path_of(policy_id: str) -> str:
    return f"/{policy_id}.rego"


def module_id(policy_id: str) -> str:
    """The id OPA gives a policy of the bundle (`GET /v1/policies/{id}`): bundle name and file.

    >>> module_id("authz")
    'policies/authz.rego'
    """
    return f"{NAME}{path_of(policy_id)}"


def policy_of(path: str) -> str | None:
    """The policy id of a file of the bundle (OPA reports errors by file), or None."""
    name = path.rsplit("/", 1)[-1]
    return name[: -len(".rego")] if name.endswith(".rego") else None


def roots_of(sources: list[str]) -> list[str]:
    """The manifest's roots: each module's package path, none inside another.

    OPA refuses REST writes under a bundle's roots, and the CMS's compile check writes under
    its own scratch namespace, so the roots must name the policies' packages, not everything.

    >>> roots_of(["package halab.authz", "package halab.authz.extra", "package other.x"])
    ['halab/authz', 'other/x']
    """
    paths = sorted({m.group(1).replace(".", "/") for s in sources if (m := _PACKAGE.search(s))})
    roots: list[str] = []
    for p in paths:  # sorted: a root comes before every path inside it
        if not any(p == r or p.startswith(r + "/") for r in roots):
            roots.append(p)
    return roots


@dataclass(frozen=True)
class Bundle:
    """One bundle: the policies it holds (id -> Rego), the etcd revision it reflects, its tarball.

    `etag` (also the manifest's revision, which OPA reports back as `active_revision`) is
    the revision and a tag unique to the bundle: a refusal rebuilds at the same revision, and
    a resync from a lagging etcd member may offer an older one.
    """

    policies: dict[str, str]
    revision: int
    etag: str
    roots: list[str]
    body: bytes = field(repr=False)

    @property
    def files(self) -> dict[str, str]:
        return {path_of(pid): rego for pid, rego in self.policies.items()}

    @classmethod
    def of(cls, policies: dict[str, str], revision: int, tag: str) -> Bundle:
        etag = f"{revision}.{tag}"
        roots = roots_of(list(policies.values()))
        manifest = {"revision": etag, "roots": roots}
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            _add(tar, "/.manifest", json.dumps(manifest).encode())
            for pid, rego in sorted(policies.items()):
                _add(tar, path_of(pid), rego.encode("utf-8"))
        return cls(dict(policies), revision, etag, roots, buf.getvalue())


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def wait_of(prefer: str | None) -> float:
    """The seconds OPA asks the server to hold its request (`Prefer: wait=10`), 0 if none.

    >>> wait_of("wait=10"), wait_of("respond-async, wait=5"), wait_of(None)
    (10.0, 5.0, 0.0)
    """
    for part in (prefer or "").replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key == "wait":
            try:
                return max(0.0, float(value))
            except ValueError:
                return 0.0
    return 0.0


class Board:
    """The bundle on offer: the sync thread publishes, OPA's long polls wait for a new one.

    Thread-safe on the publishing side; `wait_newer` runs on the web server's event loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bundle: Bundle | None = None
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def current(self) -> Bundle | None:
        return self._bundle

    def publish(self, bundle: Bundle) -> None:
        with self._lock:
            self._bundle = bundle
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    async def wait_newer(self, etag: str | None, timeout_s: float) -> Bundle | None:
        """The current bundle once its etag differs from `etag`, or None after `timeout_s`."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        waiter = (loop, event)
        with self._lock:
            self._waiters.add(waiter)
        try:
            deadline = loop.time() + timeout_s
            while True:
                bundle = self._bundle
                if bundle is not None and bundle.etag != etag:
                    return bundle
                left = deadline - loop.time()
                if left <= 0:
                    return None
                event.clear()
                bundle = self._bundle  # published between the check and the clear
                if bundle is not None and bundle.etag != etag:
                    return bundle
                try:
                    await asyncio.wait_for(event.wait(), left)
                except TimeoutError:
                    return None
        finally:
            with self._lock:
                self._waiters.discard(waiter)


@dataclass(frozen=True)
class Activation:
    """What OPA's status plugin reported about the bundle: the revision active, and, when
    the last download failed to activate, the failed one's errors by policy id."""

    active: str | None
    failed: bool
    message: str
    errors: dict[str, str]  # policy id -> message; "" key: errors that name no policy file
    timers_ms: dict[str, float]  # OPA's own timers of its last download and activation

    @classmethod
    def from_report(cls, report: dict, name: str = NAME) -> Activation | None:
        """From a status plugin POST body; None if it says nothing about the bundle.

        >>> a = Activation.from_report({"bundles": {"policies": {"active_revision": "41",
        ...     "code": "bundle_error", "message": "compile", "errors": [{"code": "rego_parse_error",
        ...     "message": "unexpected eof", "location": {"file": "/bad.rego", "row": 3}}]}}})
        >>> a.active, a.failed, a.errors
        ('41', True, {'bad': '/bad.rego:3: rego_parse_error: unexpected eof'})
        >>> Activation.from_report({"bundles": {"policies": {"active_revision": "41", "metrics": {
        ...     "timer_rego_module_compile_ns": 2500000, "counter_x": 3}}}}).timers_ms
        {'rego_module_compile': 2.5}
        """
        status = (report.get("bundles") or {}).get(name)
        if not isinstance(status, dict):
            return None
        errors: dict[str, list[str]] = {}
        for e in status.get("errors") or []:
            loc = e.get("location") or {}
            pid = policy_of(str(loc.get("file") or "")) or ""
            where = f"{loc.get('file')}:{loc.get('row')}: " if loc.get("file") else ""
            errors.setdefault(pid, []).append(f"{where}{e.get('code')}: {e.get('message')}")
        code = status.get("code") or ""
        metrics = status.get("metrics") or {}
        timers = {k[len("timer_"):-len("_ns")]: round(v / 1e6, 3) for k, v in metrics.items()
                  if k.startswith("timer_") and k.endswith("_ns") and isinstance(v, int | float)}
        return cls(active=status.get("active_revision") or None, failed=bool(code),
                   message=str(status.get("message") or code),
                   errors={pid: "; ".join(msgs)[:2000] for pid, msgs in errors.items()}, timers_ms=timers)
