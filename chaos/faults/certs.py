"""Certificates as faults (issue 28, stage 4): a component's certificate replaced by an expired
one, or by one from another CA, keeping its names, then the component restarted.

The restart is how such a certificate arrives in production (a renewal missed until the next
deploy, a deploy with the wrong issuer) and what makes every connection new: most programs
read their certificate at start, and etcd's members keep their peer streams open for hours.
Every certificate the component holds is replaced: its own (served, and presented as a
client) and, for the services of etcd, the one it logs in to etcd with.

The undo step names the component only: healing issues fresh certificates from the run's CA
(its key is in the run's private directory) with the names the component holds, so no key
ever reaches the ledger.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import docker.errors

from chaos import process
from chaos.faults.package import Start, Started
from chaos.ledger import ActiveFault
from harness.faults import Targets
from harness.pki import Issued, LabCa
from harness.topology.etcd_tls import TLS_DIR as ETCD_DIR
from harness.topology.lab import Lab
from system.common.tls import CERT, KEY, TLS_DIR

DIRS = (str(TLS_DIR), ETCD_DIR)  # where a component holds cert.pem and key.pem (system/common/tls.py, etcd_tls.py)


def read_file(container, path: str) -> bytes | None:
    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        f = tar.extractfile(member) if member is not None else None
        return f.read() if f is not None else None


def write_files(container, directory: str, files: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    if not container.put_archive(directory, buf.getvalue()):
        raise RuntimeError(f"could not write {', '.join(files)} into {container.name}:{directory}")


def replace(lab: Lab, name: str, issue) -> list[str]:
    """Every certificate `name` holds, swapped for `issue(its PEM)`; returns the directories."""
    c = process.container(lab, name)
    done = []
    for d in DIRS:
        pem = read_file(c, f"{d}/{CERT}")
        if pem is None:
            continue
        new: Issued = issue(pem)
        write_files(c, d, {CERT: new.cert_pem, KEY: new.key_pem})
        done.append(d)
    if not done:
        raise RuntimeError(f"{name} holds no {CERT} in {' or '.join(DIRS)}: no certificate to break")
    return done


def _broken(expired: bool):
    def start(lab: Lab, f: ActiveFault, t: Targets) -> Started:
        ca = LabCa.load(Path(lab.state.secrets_dir)) if expired else LabCa.create(f"stranger {lab.run_id}")
        names = list(t.components)
        try:
            for name in names:
                replace(lab, name, lambda pem: ca.reissue(pem, expired=expired))
            # Stopped and started, not waited on: with such a certificate it may never be healthy.
            process.bounce(lab, names)
        except BaseException:
            # The ledger holds no undo step until start returns: renew here, or the bad
            # certificates outlive a start that failed or was interrupted.
            renew(lab, names)
            raise
        return [{"do": "reissue", "components": names}], ", ".join(names)
    return start


def renew(lab: Lab, names: list[str]) -> None:
    """Fresh certificates from the run's CA, the component restarted until healthy."""
    ca = LabCa.load(Path(lab.state.secrets_dir))
    for name in names:
        replace(lab, name, ca.reissue)
    process.restart(lab, names)


PACKAGES: dict[str, Start] = {"cert-expired": _broken(expired=True), "cert-foreign": _broken(expired=False)}
