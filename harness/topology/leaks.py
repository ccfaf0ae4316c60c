"""Secrets that reached a container's log.

What counts as secret is what the run handed out as one: every file under the containers'
secret paths (API keys, AppRole credentials, admin tokens, the LLM key), read back from the
containers themselves, and every file in the harness's private directory (the unseal key,
its token, the consumers' keys). A new secret is covered the day it is handed out, with no
list here to keep. Shapes that are secret whatever their value are looked for too: an
OpenBao token, a PEM private key.

    >>> found_in(b"GET /v1 token=s.AbCdEfGhIjKlMnOpQrStUvWx", {"k": b"zzzzzzzzzzzz"})
    ['OpenBao token']
    >>> found_in(b"key=zzzzzzzzzzzz", {"api key": b"zzzzzzzzzzzz"})
    ['api key']
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from system.common.settings import SECRETS_DIR

CONTAINER_SECRET_PATHS = (str(SECRETS_DIR), "/run/halab/llm_api_key")
MIN_LEN = 8  # shorter values (a port, "true") would match by chance
SHAPES = {
    "OpenBao token": re.compile(rb"\b(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,}"),
    "private key": re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}


@dataclass(frozen=True)
class Leak:
    container: str
    what: str  # the secret's file name or shape, never its value


def found_in(log: bytes, secrets: dict[str, bytes]) -> list[str]:
    return sorted({name for name, value in secrets.items() if value in log}
                  | {name for name, rx in SHAPES.items() if rx.search(log)})


def _values(name: str, raw: bytes) -> dict[str, bytes]:
    """A file's secret values: the whole text, or each string in a JSON document."""
    text = raw.strip()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, (dict, list)):
        leaves = doc.values() if isinstance(doc, dict) else doc
        return {f"{name}[{i}]": str(v).encode() for i, v in enumerate(leaves) if len(str(v)) >= MIN_LEN}
    return {name: text} if len(text) >= MIN_LEN else {}


def _from_container(container) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path in CONTAINER_SECRET_PATHS:
        try:
            stream, _ = container.get_archive(path)
        except Exception:  # noqa: BLE001 -- not every container holds every path (docker.errors.NotFound)
            continue
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    out |= _values(Path(member.name).name, tar.extractfile(member).read())
    return out


def secrets_of(run_id: str, secrets_dir: Path, client) -> dict[str, bytes]:
    """Every secret one run handed out, by file name: the harness's and its containers'."""
    secrets: dict[str, bytes] = {}
    for p in sorted(Path(secrets_dir).rglob("*")) if Path(secrets_dir).is_dir() else ():
        if p.is_file():  # etcd-root/ holds the harness's own etcd certificate and key
            secrets |= _values(str(p.relative_to(secrets_dir)), p.read_bytes())
    for c in client.containers.list(all=True, filters={"label": f"halab={run_id}"}):
        secrets |= {f"{c.name}:{k}": v for k, v in _from_container(c).items()}
    return secrets


def leaks(run_id: str, secrets_dir: Path, client) -> list[Leak]:
    """Every (container, secret) of one run where the secret is in the container's log."""
    secrets = secrets_of(run_id, secrets_dir, client)
    return [Leak(c.name, what) for c in client.containers.list(all=True, filters={"label": f"halab={run_id}"})
            for what in found_in(c.logs(stdout=True, stderr=True), secrets)]
