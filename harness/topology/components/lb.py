"""The LB pair: HAProxy checking every gateway through the WAN, keepalived moving one VIP.

Both LBs sit on the edge site's network; the VIP is an address on that network that
keepalived gives the master (VRRP, `advert_int` and priorities from the spec). HAProxy's
checks and retries follow the spec's HealthCheck and Timeouts (DESIGN section 5 measured
`check inter 2s fall 3 rise 2`, `retries 2`, `option redispatch`, `timeout connect 1s`).
"""

from __future__ import annotations

from harness.containers import HaproxyContainer
from harness.topology.components.context import Context
from harness.topology.plan import Placement, Plan

VRID = 51


def haproxy_cfg(plan: Plan) -> str:
    t, h = plan.topology.params.timeouts, plan.topology.params.health
    servers = "\n".join(
        f"    server {g.name} {g.hostport()} check inter {h.inter_s:g}s fall {h.fall} rise {h.rise}"
        for g in plan.of_kind("gateway")
    )
    return f"""\
global
    log stdout format raw local0 notice
    maxconn 4096
defaults
    mode http
    log global
    option dontlognull
    timeout connect {t.connect_s:g}s
    timeout client {t.request_s:g}s
    timeout server {t.request_s:g}s
    timeout http-request 10s
    retries {t.retries}
    option redispatch
frontend users
    bind *:80
    default_backend gateways
backend gateways
    balance roundrobin
    option httpchk GET /healthz
{servers}
"""


def keepalived_conf(plan: Plan, p: Placement, vip: str, prefix: int) -> str:
    v = plan.topology.params.vrrp
    lbs = [x.name for x in plan.of_kind("lb")]
    priority = v.priorities[lbs.index(p.name)]
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
    virtual_ipaddress {{
        {vip}/{prefix} dev eth0
    }}
}}
"""


def container(ctx: Context, p: Placement) -> HaproxyContainer:
    assert ctx.vip is not None, "the VIP is chosen when the edge network exists"
    vip, prefix = ctx.vip
    c = HaproxyContainer(ctx.run_id, ctx.image_of("lb"), site=p.site)
    ctx.place(c, p)
    return c.with_config(haproxy_cfg(ctx.plan)).with_keepalived(keepalived_conf(ctx.plan, p, vip, prefix))
