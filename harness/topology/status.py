"""What `halab status` shows: every component's container and health, etcd members, OpenBao
Raft peers, which LB holds the VIP, the WAN proxies. Reads only the state file, the Docker
API and the components' own endpoints, so it works from any process.
"""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from harness.kinds import KINDS, probe_port
from harness.topology import etcd_tls, trust
from harness.topology.state import State
from harness.topology.wanlink import BASELINE, WanLink

TIMEOUT_S = 1.5


@dataclass
class ComponentStatus:
    name: str
    kind: str
    site: str
    container: str
    address: str
    port: int
    running: str  # docker state: running, exited, paused, missing
    health: str  # "ok", or why not


@dataclass
class Status:
    state: State
    components: list[ComponentStatus] = field(default_factory=list)
    etcd_members: list[str] = field(default_factory=list)
    raft_peers: list[dict] = field(default_factory=list)
    vip_holder: str = "?"
    proxies: dict[str, dict] = field(default_factory=dict)  # name -> {enabled, toxics}
    # --with-metrics: {"url", "targets", "up", "down": [component, ...]}
    metrics: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def probe(state: State, name: str) -> str:
    """"ok" (with the state the kind names, if any), or why not: the kind table's probe
    (over TLS where the kind serves that port so, its name checked against the lab CA)."""
    c = state.components[name]
    k = KINDS[c["kind"]]
    try:
        if k.probe.path is None:
            with socket.create_connection((c["address"], probe_port(k, c["ports"])), timeout=TIMEOUT_S):
                return "ok (port open)"
        role = k.probe.role if k.probe.role in c["ports"] else None
        if role is None:  # the lb's monitor port: HAProxy's own, plain HTTP
            resp = httpx.get(f"http://{c['address']}:{probe_port(k, c['ports'])}{k.probe.path}", timeout=TIMEOUT_S,
                             trust_env=False)
        else:
            with trust.component(state, name, role, timeout=TIMEOUT_S) as http:
                resp = http.get(k.probe.path)
        state = k.probe.states.get(resp.status_code)
        if resp.status_code not in k.probe.ok:
            return state or f"HTTP {resp.status_code}"
        if k.probe.json_field:
            key, want = k.probe.json_field
            body = resp.json()
            if str(body.get(key)) != want:
                return f"unhealthy: {body.get('reason') or '?'}"
        return f"ok ({state})" if state else "ok"
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return f"down: {exc.__class__.__name__}"


def collect(state: State, client) -> Status:
    out = Status(state)
    containers = {c.name: c for c in client.containers.list(all=True, filters={"label": f"halab={state.run_id}"})}

    def one(item) -> ComponentStatus:
        name, c = item
        ctr = containers.get(c["container"])
        running = ctr.status if ctr is not None else "missing"
        health = probe(state, name) if running == "running" else "-"
        return ComponentStatus(name, c["kind"], c["site"], c["container"], c["address"],
                               c["ports"][next(iter(KINDS[c["kind"]].ports))], running, health)

    with ThreadPoolExecutor(max_workers=16) as pool:
        out.components = list(pool.map(one, state.components.items()))
    up = {c.name for c in out.components if c.health.startswith("ok")}
    for c in out.components:
        if c.kind == "etcd" and c.name in up:
            try:
                with etcd_tls.as_root(state, c.name, TIMEOUT_S) as client:
                    out.etcd_members = [m.name or "(joining)" for m in client.members]
                break
            except Exception as exc:  # noqa: BLE001 - grpc's errors and a refused TLS alike
                out.errors.append(f"etcd member list: {exc}")
    try:
        token = state.secret("harness_token")
    except OSError:
        token = ""
    for c in out.components:
        if c.kind == "vault" and c.name in up and token:
            try:
                with trust.component(state, c.name, "api", timeout=TIMEOUT_S) as http:
                    resp = http.get("/v1/sys/storage/raft/configuration", headers={"X-Vault-Token": token})
                out.raft_peers = resp.json()["data"]["config"]["servers"]
                break
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                out.errors.append(f"OpenBao raft peers: {exc}")
    out.vip_holder = _vip_holder(state, containers)
    if state.prometheus_url:
        out.metrics = _targets(state.prometheus_url, out.errors)
    try:
        proxies = WanLink.from_state(state).proxies()
        out.proxies = {
            n: {"enabled": p["enabled"], "toxics": [t["name"] for t in p.get("toxics") or [] if not t["name"].startswith(BASELINE)]}
            for n, p in proxies.items()
        }
    except (OSError, ValueError) as exc:  # requests' errors are OSErrors
        out.errors.append(f"toxiproxy: {exc}")
    return out


def _targets(url: str, errors: list[str]) -> dict:
    from harness.containers.prometheus import active_targets

    try:
        targets = active_targets(url, timeout_s=TIMEOUT_S)
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        errors.append(f"prometheus: {exc}")
        return {"url": url}
    down = sorted(t["labels"].get("component", t["scrapeUrl"]) for t in targets if t["health"] != "up")
    return {"url": url, "targets": len(targets), "up": len(targets) - len(down), "down": down}


def _vip_holder(state: State, containers) -> str:
    """The LB whose keepalived last said MASTER (from its log: the images carry no `ip`)."""
    holders = []
    for name, c in state.components.items():
        ctr = containers.get(c["container"])
        if c["kind"] != "lb" or ctr is None or ctr.status != "running":
            continue
        lines = [ln for ln in ctr.logs(tail=200).decode(errors="replace").splitlines() if "halab_vip" in ln]
        if lines and "MASTER" in lines[-1]:
            holders.append(name)
    return ", ".join(holders) or "none"


def render(status: Status):
    """A rich renderable: one screen."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    s = status.state
    head = Text.assemble(
        ("halab ", "bold"), (f"{s.preset}", "bold cyan"), f"  run {s.run_id}  source {s.source}\n",
        ("users: ", "bold"), f"{s.vip_url}  (VIP {s.vip_address} on {status.vip_holder})\n",
        ("toxiproxy: ", "bold"), f"{s.toxiproxy_api}   ", ("secrets: ", "bold"), f"{s.secrets_dir}",
        *((("\nmetrics: ", "bold"), _metrics_line(status.metrics)) if status.metrics else ()),
    )
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in ("component", "kind", "site", "address", "container", "health"):
        t.add_column(col)
    for c in status.components:
        style = "green" if c.health.startswith("ok") else ("red" if c.running != "running" or c.health.startswith("down") else "yellow")
        t.add_row(c.name, c.kind, c.site, f"{c.address}:{c.port}", c.running, Text(c.health, style=style))
    enabled = sum(1 for p in status.proxies.values() if p["enabled"])
    off = [n for n, p in status.proxies.items() if not p["enabled"]]
    toxic = [f"{n}({','.join(p['toxics'])})" for n, p in status.proxies.items() if p["toxics"]]
    peers = ", ".join(f"{p['node_id']}{'*' if p.get('leader') else ''}{'' if p.get('voter') else ' (non-voter)'}" for p in status.raft_peers)
    tail = Text.assemble(
        ("etcd members: ", "bold"), f"{', '.join(status.etcd_members) or '?'}   ",
        ("OpenBao Raft: ", "bold"), f"{peers or '?'}\n",
        ("WAN proxies: ", "bold"), f"{enabled}/{len(status.proxies)} enabled",
        f"; disabled: {', '.join(off)}" if off else "", f"; toxics: {', '.join(toxic)}" if toxic else "",
        *((("\n" + "\n".join(status.errors), "red"),) if status.errors else ()),
    )
    return Group(head, t, tail)


def _metrics_line(m: dict) -> str:
    if "targets" not in m:
        return f"{m['url']} (Prometheus; targets unknown)"
    down = f"; down: {', '.join(m['down'])}" if m["down"] else ""
    return f"{m['url']} (Prometheus: {m['up']}/{m['targets']} targets up{down})"


def as_json(status: Status) -> str:
    return json.dumps({
        "run_id": status.state.run_id, "preset": status.state.preset, "vip_url": status.state.vip_url,
        "vip_holder": status.vip_holder, "etcd_members": status.etcd_members, "raft_peers": status.raft_peers,
        "components": [c.__dict__ for c in status.components], "proxies": status.proxies, "metrics": status.metrics,
        "errors": status.errors,
    }, indent=2)
