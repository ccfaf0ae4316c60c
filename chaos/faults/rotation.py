"""The lab CA rotated while the platform runs (issue 28, stage 4): `ca-rotate`.

Done the way an operator rotates a CA without an outage, in two passes, each of which waits for
every component to take it before the next starts:

1. **Trust.** A new CA is made; every trust file inside the DCs becomes the new CA and the old
   one together, and every component takes it. No product here reloads its trust at run time
   (etcd, OPA, OpenBao and Python's clients build their CA pool once), so each restarts, a node at
   a time, its gateways drained on every LB first; HAProxy re-reads its files on a master-worker
   reload (SIGUSR2), hitless.
2. **Leaves.** Every component's certificate is reissued from the new CA (same names, new key),
   and taken where the product can without a restart: etcd reads its certificate files on every
   handshake, OpenBao reloads its listener's on SIGHUP, HAProxy on a reload. The rest restart
   again, a node at a time.

The host's side follows: the run's ca.pem holds both CAs (the new one first, so LabCa.load and
later renewals use it), ca-key.pem the new key, and the harness's client and etcd-root
certificates are reissued.

What is not rotated, and why: the VIP's certificate (the edge's certificate comes from a public
CA in production, and the users' clients trust that), "Atlas" (a managed service with its
provider's certificate) and the LLM (an external API). They keep the old CA, so the old CA stays
trusted inside the DCs: dropping it is a third pass this fault does not make.

A rotation is not undone: it leaves the lab healthy, under a new CA. Its start renews nothing
if interrupted between passes; both CAs are trusted from the first write, so any mix of old
and new certificates still verifies.
"""

from __future__ import annotations

import signal
from pathlib import Path

from chaos import haproxy, process
from chaos.faults.certs import DIRS, read_file, write_files
from chaos.faults.package import Start, Started
from chaos.faults.restart import restart
from chaos.ledger import ActiveFault
from harness.faults import Targets
from harness.kinds import KINDS
from harness.pki import CA_CERT, CA_KEY, CLIENT, LabCa, write_private
from harness.topology.etcd_tls import save_root
from harness.topology.lab import Lab
from harness.topology.scrape import CA_FILE, CLIENT_FILES
from harness.waiting import eventually
from system.common.tls import CA, CERT, CLIENTS_CA, KEY

# Where a container holds a CA it trusts (system/common/tls.py, etcd_tls.py, the LB's ca-file, Prometheus).
TRUST_FILES = tuple(f"{d}/{name}" for d in DIRS for name in (CA, CLIENTS_CA)) + (CA_FILE,)
# Kinds whose certificates are not the internal CA's to rotate: the edge, a managed service, an external API.
KEPT = ("lb", "mongo", "llm")
# How a kind takes a new certificate of its own without a restart (None: it restarts).
LEAF_RELOAD = {"vault": signal.SIGHUP}
# etcd re-reads its certificate files on every handshake: nothing to do but write them.
READS_EACH_HANDSHAKE = ("etcd",)


def _rotate(lab: Lab, f: ActiveFault, t: Targets) -> Started:
    secrets = Path(lab.state.secrets_dir)
    new = LabCa.create(f"{lab.run_id} rotated")
    bundle = new.cert_pem + (secrets / CA_CERT).read_bytes()
    names = list(lab.state.components)  # the whole lab: a CA is every component's
    trusting = _write_trust(lab, names, bundle)
    _save_host_trust(new, secrets, bundle)
    _take(lab, [n for n in trusting if _verifies(lab.state.component(n).kind)], reloads={"lb": signal.SIGUSR2})
    reissued = _reissue_leaves(lab, [n for n in names if lab.state.component(n).kind not in KEPT], new)
    _save_host_leaves(new, secrets, bundle)
    _take(lab, [n for n in reissued if lab.state.component(n).kind not in READS_EACH_HANDSHAKE], reloads=LEAF_RELOAD)
    return [], f"{len(trusting)} components trust the new CA {new.fingerprint[:16]}, {len(reissued)} hold its certificates"


def _verifies(kind: str) -> bool:
    """Whether a kind checks anyone's certificate: a server that asks its clients for one, or a
    client of another component. "Atlas" and the LLM do neither, so the trust pass leaves them be."""
    k = KINDS.get(kind)
    return k is None or k.mutual or bool(k.talks_to)


def _write_trust(lab: Lab, names: list[str], bundle: bytes) -> list[str]:
    done = []
    for name in names:
        c = process.container(lab, name)
        paths = [p for p in TRUST_FILES if read_file(c, p) is not None]
        for p in paths:
            d, file = p.rsplit("/", 1)
            write_files(c, d, {file: bundle})
        if paths:
            done.append(name)
    return done


def _reissue_leaves(lab: Lab, names: list[str], ca: LabCa) -> list[str]:
    done = []
    for name in names:
        c = process.container(lab, name)
        for d in DIRS:
            pem = read_file(c, f"{d}/{CERT}")
            if pem is not None:
                issued = ca.reissue(pem)
                write_files(c, d, {CERT: issued.cert_pem, KEY: issued.key_pem})
                if name not in done:
                    done.append(name)
        pem = read_file(c, CLIENT_FILES[0])  # Prometheus's scrape identity
        if pem is not None:
            issued = ca.reissue(pem)
            write_files(c, CLIENT_FILES[0].rsplit("/", 1)[0], {CLIENT_FILES[0].rsplit("/", 1)[1]: issued.cert_pem,
                                                              CLIENT_FILES[1].rsplit("/", 1)[1]: issued.key_pem})
            done.append(name)
    return done


def _save_host_trust(ca: LabCa, secrets: Path, bundle: bytes) -> None:
    """The run's ca.pem trusts both (new first: LabCa.load takes the first), ca-key.pem is the new key."""
    ca.save(secrets)
    (secrets / CA_CERT).write_bytes(bundle)
    root = secrets / "etcd-root"
    if root.is_dir():
        write_private(root, CA, bundle)
    assert LabCa.load(secrets).fingerprint == ca.fingerprint and (secrets / CA_KEY).exists()


def _save_host_leaves(ca: LabCa, secrets: Path, bundle: bytes) -> None:
    if (secrets / CLIENT).exists():
        ca.save_client(secrets)
    if (secrets / "etcd-root").is_dir():
        save_root(ca, secrets)  # it writes the new CA alone over both trust files: the bundle again
        write_private(secrets / "etcd-root", CA, bundle)
        (secrets / CA_CERT).write_bytes(bundle)


def _take(lab: Lab, names: list[str], reloads: dict[str, signal.Signals]) -> None:
    """Each of `names` takes its new files: a signal where its kind reloads on one, else a
    restart, a node at a time (its gateways drained on every LB first), as an operator rolls."""
    kind = {n: lab.state.component(n).kind for n in names}
    signalled = [n for n in names if kind[n] in reloads]
    for n in signalled:
        process.container(lab, n).kill(signal=reloads[kind[n]].name)
    if any(kind[n] == "lb" for n in signalled):
        # A reloaded HAProxy starts its checks afresh: the next node waits until both LBs see the gateways UP.
        gateways = [g.name for g in lab.state.of_kind("gateway")]
        eventually(lambda: all(haproxy.up_everywhere(lab.state, g) for g in gateways), timeout_s=60,
                   what="every gateway UP on every reloaded LB", poll_s=0.2)
    nodes: dict[str, list[str]] = {}
    for n in names:
        if n not in signalled:
            nodes.setdefault(lab.state.component(n).node or n, []).append(n)
    for members in nodes.values():
        restart(lab, members, drain=True, cpus=0.0)


PACKAGES: dict[str, Start] = {"ca-rotate": _rotate}
