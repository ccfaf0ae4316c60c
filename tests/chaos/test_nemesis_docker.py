"""The nemesis on the real seed lab: a one-way cut is one way, a dead site looks dead from the
other side (connect timeouts, not a proxy that accepts), and `halab heal` from another process
undoes what this one left active."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys

import pytest

from chaos import network
from chaos.nemesis import Nemesis, wait_healthy

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def connects(ip: str, port: int, timeout_s: float = 1.5) -> str:
    try:
        with socket.create_connection((ip, port), timeout=timeout_s):
            return "open"
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return type(exc).__name__


def listener(lab, client_site: str, server: str) -> tuple[str, int]:
    route = next(r for r in lab.routes if r.client_site == client_site and r.server == server)
    return network.listen_ips(lab)[client_site], route.port


def test_a_one_way_partition_cuts_only_that_direction(seed_lab):
    with Nemesis(seed_lab) as n:
        f = n.start("partition", "dc1->dc2")
        assert connects(*listener(seed_lab, "dc1", "etcd2")) == "timeout"   # dc1 cannot reach dc2
        assert connects(*listener(seed_lab, "dc2", "etcd1")) == "open"      # dc2 still reaches dc1
        n.stop(f)
        assert connects(*listener(seed_lab, "dc1", "etcd2")) == "open"


def test_a_dead_site_gives_connect_timeouts_or_refusals_as_asked(seed_lab):
    with Nemesis(seed_lab) as n:
        f = n.start("site-down", "dc2")
        assert connects(*listener(seed_lab, "edge", "gateway2")) == "timeout"
        n.stop(f)
        f = n.start("component-down", "gateway2", {"mode": "reject"})
        assert connects(*listener(seed_lab, "edge", "gateway2")) == "refused"
        n.stop(f)
    wait_healthy(seed_lab)


def test_halab_heal_from_another_process_undoes_what_this_one_left(seed_lab):
    n = Nemesis(seed_lab)
    rag2 = seed_lab.docker.containers.get(seed_lab.state.components["rag2"]["container"])
    n.start("pause", "rag2")
    assert _process_states(rag2) == {"T"}  # SIGSTOP: stopped processes in a running container
    n.start("latency", "dc1,dc2", {"latency_ms": 300})
    cms2 = seed_lab.docker.containers.get(seed_lab.state.components["cms2"]["container"])
    cms2.update(cpu_period=100_000, cpu_quota=30_000)  # a starved restart (-o cpus=0.3) cut short
    env = dict(os.environ, HALAB_TOPOLOGY_STATE_FILE=str(seed_lab.state_file))
    listed = subprocess.run([sys.executable, "-m", "harness.cli", "faults"], env=env, capture_output=True, text=True)
    assert "pause" in listed.stdout and "latency" in listed.stdout, listed.stdout + listed.stderr
    healed = subprocess.run([sys.executable, "-m", "harness.cli", "heal"], env=env, capture_output=True, text=True)
    assert healed.returncode == 0 and "healed 2 fault(s)" in healed.stdout, healed.stdout + healed.stderr
    assert n.active() == []
    assert seed_lab.docker.containers.get(seed_lab.state.components["rag2"]["container"]).status == "running"
    assert "T" not in _process_states(rag2)
    cms2.reload()
    assert cms2.attrs["HostConfig"]["CpuQuota"] <= 0
    toxics = {t["name"] for p in seed_lab.wan.proxies().values() for t in p.get("toxics") or []}
    assert all(t.startswith("baseline_") for t in toxics), toxics


def _process_states(c) -> set[str]:
    """The states (R, S, T, ...) of a container's processes, read from the host's /proc."""
    pids = [row[0] for row in c.top(ps_args="-eo pid")["Processes"]]
    return {open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] for pid in pids}


def _handshake(lab, name: str, role: str) -> str:
    """A TLS handshake with the harness's identity, once the restarted component listens: "ok"
    or why the client refused the server's certificate."""
    from harness.topology import trust
    from harness.waiting import eventually

    def once() -> str | None:
        c = lab.state.components[name]
        try:
            with socket.create_connection((c["address"], c["ports"][role]), timeout=2) as sock, \
                    trust.context(lab.state).wrap_socket(sock, server_hostname=c["container"]):
                return "ok"
        except ssl.SSLCertVerificationError as exc:
            return exc.verify_message
        except OSError:
            return None  # not listening yet
    return eventually(once, 60, what=f"a TLS handshake with {name} {role}")


def test_bad_certificates_are_refused_and_healing_renews_them(seed_lab):
    """cert-expired and cert-foreign swap a component's certificates (same names) and restart
    it: its clients refuse it for the reason the fault names; healing issues fresh ones from the
    run's CA and it is healthy again."""
    with Nemesis(seed_lab) as n:
        # The peer port: without a quorum, a restarted member never serves its client port.
        f = n.start("cert-expired", "etcd2")
        assert _handshake(seed_lab, "etcd2", "peer") == "certificate has expired"
        n.stop(f)
        assert _handshake(seed_lab, "etcd2", "peer") == "ok"
        f = n.start("cert-foreign", "gateway2")
        assert _handshake(seed_lab, "gateway2", "http") in ("unable to get local issuer certificate",
                                                            "self-signed certificate in certificate chain")
        n.stop(f)
        assert _handshake(seed_lab, "gateway2", "http") == "ok"
    wait_healthy(seed_lab)
