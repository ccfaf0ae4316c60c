"""The run's CA rotated while the platform runs (issue 28, stage 4): `ca-rotate`.

Done the way an operator rotates a CA without an outage, in three passes, each taken by every
component it touched before the next starts:

1. **Trust both.** A new CA is made, and wherever the old one is trusted, the new one is
   trusted beside it.
2. **Reissue.** Every certificate the old CA signed is reissued from the new one, with the same
   names and a new key: the components' own, the LBs' towards the gateways, Prometheus's, and
   the harness's client and etcd root certificates on the host.
3. **Drop the old CA.** Wherever it was trusted, only the new one is.

How a component takes a pass: HAProxy re-reads its files on a master-worker reload (SIGUSR2,
hitless), OpenBao reloads its listener's certificate on SIGHUP, and etcd reads its certificate
files on every handshake; none of them, nor Python's ssl, pymongo or gRPC clients, reloads the
CAs it trusts, so for a trust pass, and for a new certificate elsewhere, the component restarts
-- a node at a time, its gateways drained on every LB first, as an operator rolls a change.

What the rotation leaves: the outside's CA (harness/kinds.py's `outside_ca`: the VIP's, Atlas's
and the LLM's certificates, a public CA's and the providers' in production) and what it signed;
a trust file holds it beside the run's CA and keeps it.

A rotation is not undone: it leaves the lab healthy, under the new CA. Interrupted before its
last pass, the lab still works (both CAs are trusted from the first write); `halab fault
ca-rotate` again rotates once more, from the CA the run's ca.pem names first.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from chaos import haproxy, process
from chaos.faults.certs import DIRS, read_file, write_files
from chaos.faults.package import Start, Started
from chaos.faults.restart import restart
from chaos.ledger import ActiveFault
from harness.faults import Targets
from harness.kinds import KINDS
from harness.pki import CA_CERT, CLIENT, Issued, LabCa, write_private
from harness.topology.components.lb import CLIENT_PEM
from harness.topology.lab import Lab
from harness.topology.scrape import CA_FILE, CLIENT_FILES
from harness.waiting import eventually
from system.common.tls import CA, CERT, CLIENTS_CA, KEY

# Where a container holds CAs it trusts (system/common/tls.py, etcd_tls.py, the LB's ca-file, Prometheus).
TRUST_FILES = tuple(f"{d}/{name}" for d in DIRS for name in (CA, CLIENTS_CA)) + (CA_FILE,)
# Where it holds a certificate of its own: (certificate, key), or (both in one file, None).
LEAF_FILES: tuple[tuple[str, str | None], ...] = (
    *((f"{d}/{CERT}", f"{d}/{KEY}") for d in DIRS), (CLIENT_FILES[0], CLIENT_FILES[1]), (CLIENT_PEM, None))
RELOADS_TRUST = {"lb": signal.SIGUSR2}
RELOADS_CERTIFICATE = {"lb": signal.SIGUSR2, "vault": signal.SIGHUP, "etcd": None}  # None: nothing to do
ROOT_DIR = "etcd-root"  # the harness's etcd root identity, in the run's private directory


def _rotate(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    secrets = Path(lab.state.secrets_dir)
    old = LabCa.load(secrets)
    new = LabCa.create(f"{lab.run_id} rotated")
    names = list(lab.state.components)  # the whole lab: a CA is every component's

    both = _swap_trust(lab, names, old.cert_pem, new.cert_pem + old.cert_pem)
    trusted = (secrets / CA_CERT).read_bytes()
    new.save(secrets)  # its key as ca-key.pem; it writes ca.pem too, which gets the trust file back:
    (secrets / CA_CERT).write_bytes(trusted)
    _swap_host_trust(secrets, old.cert_pem, new.cert_pem + old.cert_pem)  # new first: LabCa.load reads it
    _take(lab, [n for n in both if _verifies(lab.state.component(n).kind)], RELOADS_TRUST)

    reissued = _reissue(lab, names, secrets, old, new)
    _take(lab, reissued, RELOADS_CERTIFICATE)

    dropped = _swap_trust(lab, names, old.cert_pem, b"")
    _swap_host_trust(secrets, old.cert_pem, b"")
    _take(lab, [n for n in dropped if _verifies(lab.state.component(n).kind)], RELOADS_TRUST)
    return [], (f"{len(both)} components trust the new CA {new.fingerprint[:16]}, {len(reissued)} hold its "
                f"certificates, the old CA {old.fingerprint[:16]} is trusted nowhere")


def _blocks(pem: bytes) -> list[bytes]:
    end = b"-----END CERTIFICATE-----"
    return [b.strip() + b"\n" + end + b"\n" for b in pem.split(end) if b.strip()]


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).tbs_certificate_bytes


def replace_ca(pem: bytes, old_ca: bytes, by: bytes) -> bytes | None:
    """`pem` (a trust file: CA certificates) with `old_ca` replaced by `by`; None if it lacks it.

    >>> a, b, c = (LabCa.create(n).cert_pem for n in "abc")
    >>> replace_ca(a + c, a, b + a) == b + a + c, replace_ca(c, a, b)
    (True, None)
    """
    blocks = _blocks(pem)
    old = _der(old_ca)
    if not any(_der(b) == old for b in blocks):
        return None
    return b"".join(by if _der(b) == old else b for b in blocks)


def _verifies(kind: str) -> bool:
    """Whether a kind checks anyone's certificate: a server that asks its clients for one, or a
    client of another component. "Atlas" and the LLM do neither: a trust pass leaves them be."""
    k = KINDS.get(kind)
    return k is None or k.mutual or bool(k.talks_to)


def _swap_trust(lab: Lab, names: list[str], old_ca: bytes, by: bytes) -> list[str]:
    """Every trust file of `names` that holds `old_ca`, with `by` in its place; returns who changed."""
    changed = []
    for name in names:
        c = process.container(lab, name)
        for path in TRUST_FILES:
            pem = read_file(c, path)
            swapped = replace_ca(pem, old_ca, by) if pem is not None else None
            if swapped is not None:
                directory, file = path.rsplit("/", 1)
                write_files(c, directory, {file: swapped})
                if name not in changed:
                    changed.append(name)
    return changed


def _swap_host_trust(secrets: Path, old_ca: bytes, by: bytes) -> None:
    if (swapped := replace_ca((secrets / CA_CERT).read_bytes(), old_ca, by)) is not None:
        (secrets / CA_CERT).write_bytes(swapped)  # public: what a user's client trusts
    root = secrets / ROOT_DIR / CA
    if root.exists() and (swapped := replace_ca(root.read_bytes(), old_ca, by)) is not None:
        write_private(root.parent, root.name, swapped)


def _reissue(lab: Lab, names: list[str], secrets: Path, old: LabCa, new: LabCa) -> list[str]:
    """Every certificate `old` signed, reissued by `new`: the components' and the host's."""
    changed = []
    for name in names:
        c = process.container(lab, name)

        def write(path: str, data: bytes, c=c) -> None:
            directory, file = path.rsplit("/", 1)
            write_files(c, directory, {file: data})

        if _reissue_files(lambda path, c=c: read_file(c, path), write, LEAF_FILES, old, new):
            changed.append(name)
    host = ((str(secrets / ROOT_DIR / CERT), str(secrets / ROOT_DIR / KEY)), (str(secrets / CLIENT), None))
    _reissue_files(lambda path: Path(path).read_bytes() if Path(path).exists() else None,
                   lambda path, data: write_private(Path(path).parent, Path(path).name, data), host, old, new)
    return changed


def _reissue_files(read: Callable[[str], bytes | None], write: Callable[[str, bytes], None],
                   files, old: LabCa, new: LabCa) -> bool:
    any_changed = False
    for cert_path, key_path in files:
        pem = read(cert_path)
        if pem is None or not _signed_by(pem, old):
            continue
        issued: Issued = new.reissue(_blocks(pem)[0])
        if key_path is None:
            write(cert_path, issued.cert_pem + issued.key_pem)
        else:
            write(cert_path, issued.cert_pem)
            write(key_path, issued.key_pem)
        any_changed = True
    return any_changed


def _signed_by(pem: bytes, ca: LabCa) -> bool:
    cert = x509.load_pem_x509_certificate(_blocks(pem)[0])
    return cert.issuer == x509.load_pem_x509_certificate(ca.cert_pem).subject


def _take(lab: Lab, names: list[str], reloads: dict[str, signal.Signals | None]) -> None:
    """Each of `names` takes its new files: a signal where its kind reloads on one (nothing
    where it reads them anyway), else a restart, a node at a time (its gateways drained on
    every LB first), as an operator rolls a change."""
    kind = {n: lab.state.component(n).kind for n in names}
    by_reload = [n for n in names if kind[n] in reloads]
    for n in by_reload:
        if (sig := reloads[kind[n]]) is not None:
            process.container(lab, n).kill(signal=sig.name)
    if any(kind[n] == "lb" for n in by_reload):
        # A reloaded HAProxy starts its checks afresh: wait until both see the gateways UP.
        gateways = [g.name for g in lab.state.of_kind("gateway")]
        eventually(lambda: all(haproxy.up_everywhere(lab.state, g) for g in gateways), timeout_s=60,
                   what="every gateway UP on every reloaded LB", poll_s=0.2)
    nodes: dict[str, list[str]] = {}
    for n in names:
        if n not in by_reload:
            nodes.setdefault(lab.state.component(n).node or n, []).append(n)
    for members in nodes.values():
        restart(lab, members, drain=True, cpus=0.0)


PACKAGES: dict[str, Start] = {"ca-rotate": _rotate}
