"""iptables inside one container's network namespace, run from the host with nsenter.

Scratch images carry no iptables, and the base image neither; the host's binary entered into
the container's namespace works on this kernel (DESIGN section 5). Every rule goes into a
chain of our own, jumped to from INPUT and OUTPUT, so a heal can delete exactly its rules and
`halab heal` can flush the chain whatever a crashed run left. The nemesis's faults go into
CHAIN; the WAN's liveness follower (harness/topology/liveness.py) keeps its own, LIVE_CHAIN,
so that healing every fault never revives a container that is still dead.
"""

from __future__ import annotations

import shutil
import subprocess

CHAIN = "HALAB"
LIVE_CHAIN = "HALAB-LIVE"


class NetnsError(RuntimeError):
    pass


def pid_of(client, container: str) -> int:
    c = client.containers.get(container)
    pid = int(c.attrs["State"].get("Pid") or 0)
    if pid <= 0:
        raise NetnsError(f"container {container} is not running: no network namespace to enter")
    return pid


def iptables(pid: int, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    if shutil.which("nsenter") is None or shutil.which("iptables") is None:
        raise NetnsError("network faults need nsenter and iptables on the host: `halab doctor` installs them")
    proc = subprocess.run(["nsenter", "-t", str(pid), "-n", "iptables", "-w", *args],
                          capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise NetnsError(f"iptables {' '.join(args)} in pid {pid}'s namespace: {proc.stderr.strip()}")
    return proc


def ensure_chain(pid: int, chain: str = CHAIN) -> None:
    """The chain, jumped to from INPUT and OUTPUT. The nemesis's comes first and the follower's
    last, whichever was made first: what a fault asks for (a refusal, say) wins over the
    follower's blackhole of the same dead component."""
    iptables(pid, "-N", chain, check=False)  # exists already: fine
    where = ("-A",) if chain == LIVE_CHAIN else ("-I", "1")
    for hook in ("INPUT", "OUTPUT"):
        if iptables(pid, "-C", hook, "-j", chain, check=False).returncode != 0:
            iptables(pid, where[0], hook, *where[1:], "-j", chain)


def add(pid: int, rule: list[str], chain: str = CHAIN) -> None:
    ensure_chain(pid, chain)
    iptables(pid, "-A", chain, *rule)


def delete(pid: int, rule: list[str], chain: str = CHAIN) -> bool:
    """Delete one rule; False when it is not there (a restarted container has a new namespace)."""
    return iptables(pid, "-D", chain, *rule, check=False).returncode == 0


def flush(pid: int, chain: str = CHAIN) -> None:
    iptables(pid, "-F", chain, check=False)


def drop_listener(ip: str, port: int, action: str = "DROP") -> list[list[str]]:
    """Rules that make a listening socket look dead: clients' packets to it dropped (connect
    timeouts, as from a dark DC) or reset (`REJECT`: a refusal), and its own answers dropped,
    so established connections hang too. `action` may carry a match, e.g. loss."""
    target = ["-j", "REJECT", "--reject-with", "tcp-reset"] if action == "REJECT" else ["-j", "DROP"]
    match = ["-m", "statistic", "--mode", "random", "--probability", action[5:]] if action.startswith("LOSS:") else []
    rules = [["-d", ip, "-p", "tcp", "--dport", str(port), *match, *target]]
    if action == "REJECT":
        # The reset REJECT sends leaves through OUTPUT: past any later chain that drops answers.
        rules.append(["-s", ip, "-p", "tcp", "--sport", str(port), "--tcp-flags", "RST", "RST", "-j", "ACCEPT"])
    else:
        rules.append(["-s", ip, "-p", "tcp", "--sport", str(port), *match, "-j", "DROP"])
    return rules


def drop_to(ip: str, port: int) -> list[list[str]]:
    """A container's own connections to ip:port dropped (OUTPUT side): it cannot reach that server."""
    return [["-d", ip, "-p", "tcp", "--dport", str(port), "-j", "DROP"]]
