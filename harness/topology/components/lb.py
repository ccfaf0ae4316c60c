"""The LB pair: HAProxy checking every gateway through the WAN, keepalived moving one VIP.

Both LBs sit on the edge site's network; the VIP is an address on that network that
keepalived gives the master (VRRP, `advert_int` and priorities from the spec). VRRP goes
unicast between the LBs: an internal Docker network drops every packet whose destination
lies outside its subnet, VRRP's multicast group 224.0.0.18 included. Docker hands out the
addresses, so each LB resolves itself and its peers by container name before keepalived
starts (HAProxy starts at once). HAProxy's
checks and retries follow the spec's HealthCheck and Timeouts (DESIGN section 5 measured
`check inter 2s fall 3 rise 2`, `retries 2`, `option redispatch`, `timeout connect 1s`).
"""

from __future__ import annotations

from harness.containers import HaproxyContainer
from harness.containers.base import TLS_CA
from harness.containers.haproxy import CONFIG_PATH, KEEPALIVED_PATH
from harness.topology.components.context import Context
from harness.topology.plan import Placement, Plan
from system.common.tls import TLS_DIR

VRID = 51
# HAProxy's Runtime API on TCP (the nemesis drains a gateway before a rolling restart).
RUNTIME_PORT = 9999


# Paths whose flows answer within the gateway's upstream timeout; /llm streams for longer.
FLOW_PATHS = "/rag/ /cms/"
READ_PATH = "/rag/query"  # a read: safe to send again after a timeout or an empty answer
# The VIP's certificate and key in one file (HAProxy's `crt`), from the outside's CA (users
# trust a public CA); the LB's own identity towards the gateways, from the run's CA; and the
# CAs the gateways' certificates are checked against.
PEM = str(TLS_DIR / "lb.pem")
CLIENT_PEM = str(TLS_DIR / "lb-client.pem")
CA = TLS_CA
VIP_NAME = "vip"  # on both LBs' certificates: whichever holds the VIP, a client may check this name


def _time(seconds: float) -> str:
    """HAProxy's time format takes no fractions: 0.5 s is `500ms`."""
    return f"{seconds:g}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def haproxy_cfg(plan: Plan) -> str:
    """The LBs' HAProxy configuration: the spec's checks and timeouts, tuned as in spec.LbTuning
    (the `seed+naive-lb` preset keeps HAProxy as first configured).

    >>> from harness.spec import preset
    >>> tuned, naive = (haproxy_cfg(Plan.of(preset(p), "doc")) for p in ("seed", "seed+naive-lb"))
    >>> all(x in tuned for x in ("fastinter 500ms", "retry-on", "timeout check 1s", "http-server-close"))
    True
    >>> "bind *:80 ssl crt" in tuned and "ssl verify required ca-file /etc/halab/tls/ca.pem verifyhost gateway1" in tuned
    True
    >>> any(x in naive for x in ("fastinter", "retry-on", "set-timeout", "http-server-close"))
    False
    """
    t, h, lb = plan.topology.params.timeouts, plan.topology.params.health, plan.topology.params.lb
    extra = f" fastinter {_time(h.fastinter_s)}" if h.fastinter_s is not None else ""
    servers = "\n".join(
        f"    server {g.name} {g.hostport()} check inter {_time(h.inter_s)} fall {h.fall} rise {h.rise}{extra}"
        f"{_server_tls(g)}"
        for g in plan.of_kind("gateway")
    )
    tuning = [f"    timeout check {_time(h.timeout_s)}"] if h.timeout_s is not None else []
    if lb.flow_timeout_s is not None:
        # A flow slower than its gateway's own timeout has a dead or frozen gateway behind it.
        tuning.append(f"    http-request set-timeout server {_time(lb.flow_timeout_s)} if {{ path_beg {FLOW_PATHS} }}")
    if lb.retry_reads:
        # The whole request in the buffer first: HAProxy can only retry what it still holds.
        tuning += ["    option http-buffer-request", "    retry-on conn-failure empty-response response-timeout",
                   f"    http-request disable-l7-retry unless {{ path {READ_PATH} }}"]
    if lb.server_close:
        tuning.append("    option http-server-close")
    return f"""\
global
    log stdout format raw local0 notice
    maxconn 4096
    stats socket ipv4@0.0.0.0:{RUNTIME_PORT} level admin
defaults
    mode http
    log global
    option dontlognull
    timeout connect {t.connect_s:g}s
    timeout client {t.request_s:g}s
    timeout server {t.request_s:g}s
    timeout http-request 10s
    retries {t.retries}
    option redispatch {lb.redispatch_interval}
frontend users
    bind *:80{" ssl crt " + PEM if plan.tls("lb") else ""}
    default_backend gateways
backend gateways
    balance roundrobin
    # Readiness, not liveness: a restarted gateway takes traffic once it has its routes.
    option httpchk GET /readyz
    # Which gateway answered: the measuring clients record it as the operation's site.
    http-response set-header X-Halab-Gateway %[srv_name]
{"".join(line + chr(10) for line in tuning)}{servers}
"""


def _server_tls(g: Placement) -> str:
    """HTTPS to a gateway (its health checks too), its certificate checked against the lab CA
    for its own name; the address it is dialled at may be the WAN proxy's. The LB presents its
    own certificate: a gateway serves only clients with one from the lab CA."""
    return f" ssl verify required ca-file {CA} verifyhost {g.alias} crt {CLIENT_PEM}" if "http" in g.tls_roles else ""


def keepalived_conf(plan: Plan, p: Placement, vip: str, prefix: int) -> str:
    v = plan.topology.params.vrrp
    lbs = [x.name for x in plan.of_kind("lb")]
    priority = v.priorities[lbs.index(p.name)]
    peers = "\n".join(f"        @PEER_{x.name}@" for x in plan.of_kind("lb") if x.name != p.name)
    return f"""\
global_defs {{
    router_id {p.name}
    enable_script_security
    script_user root
}}
vrrp_instance halab_vip {{
    state BACKUP
    interface eth0
    virtual_router_id {VRID}
    priority {priority}
    advert_int {v.advert_s:g}
    nopreempt
    unicast_src_ip @SELF@
    unicast_peer {{
{peers}
    }}
    virtual_ipaddress {{
        {vip}/{prefix} dev eth0
    }}
}}
"""


class LbNode(HaproxyContainer):
    """HAProxy now; keepalived once the LB knows its own and its peers' addresses."""

    def __init__(self, run_id: str, image: str, names: dict[str, str], **kw) -> None:
        super().__init__(run_id, image, **kw)
        self._names = names  # placeholder -> container name to resolve

    def _configure(self) -> None:
        super()._configure()
        resolve = " && ".join(
            f'{var}=$(until getent hosts {name}; do sleep 0.2; done | cut -d" " -f1)'
            for var, name in self._names.items()
        )
        subst = " ".join(f"-e s/@{var}@/${var}/" for var in self._names)
        keepalived = (
            f"({resolve} && sed -i {subst} {KEEPALIVED_PATH} && "
            f"exec keepalived --dont-fork --log-console -f {KEEPALIVED_PATH}) & "
        )
        self.with_command(["sh", "-c", f"{keepalived}exec haproxy -db -W -f {CONFIG_PATH}"])


def container(ctx: Context, p: Placement) -> HaproxyContainer:
    assert ctx.vip is not None, "the VIP is chosen when the edge network exists"
    vip, prefix = ctx.vip
    names = {"SELF": p.container, **{f"PEER_{x.name}": x.container for x in ctx.plan.of_kind("lb") if x != p}}
    c = LbNode(ctx.run_id, ctx.image_of("lb"), names, site=p.site)
    ctx.place(c, p)
    # Users reach the VIP at 127.0.0.1 through the ingress, or at its edge address.
    issued = ctx.outside_ca.issue(p.name, [*p.aliases, p.container, VIP_NAME, "localhost"], ips=["127.0.0.1", vip])
    c.with_copy_into_container(issued.cert_pem + issued.key_pem, PEM, mode=0o600)
    client = ctx.ca.issue(p.name, [p.container])
    c.with_copy_into_container(client.cert_pem + client.key_pem, CLIENT_PEM, mode=0o600)
    c.with_copy_into_container(ctx.trust_pem, CA, mode=0o600)
    return c.with_config(haproxy_cfg(ctx.plan)).with_keepalived(keepalived_conf(ctx.plan, p, vip, prefix))
