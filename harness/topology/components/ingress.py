"""The users' way in: 127.0.0.1:<port> on the host -> the VIP on the edge network.

Internal networks cannot publish ports, so this one container (HAProxy in TCP mode, nothing
else) also joins the single non-internal `publish` network and publishes there on
127.0.0.1 only. It forwards to the VIP, so it follows keepalived's failover. TLS passes
through to the LBs, which terminate it; with `plain` (`halab up --plain-vip`, opt-in) the
ingress answers plain HTTP on 127.0.0.1 and dials the VIP over TLS, checking the LBs' name.

    >>> "mode tcp" in config("10.0.0.9", 80) and "ssl" not in config("10.0.0.9", 80)
    True
    >>> "server vip 10.0.0.9:80 ssl verify required ca-file /etc/halab/tls/ca.pem verifyhost vip" in config(
    ...     "10.0.0.9", 80, plain=True)
    True
"""

from __future__ import annotations

from harness.containers import HaproxyContainer
from harness.topology.components import lb
from harness.topology.components.context import Context

LISTEN_PORT = 80


def config(vip: str, port: int, plain: bool = False) -> str:
    tls = f" ssl verify required ca-file {lb.CA} verifyhost {lb.VIP_NAME}" if plain else ""
    return f"""\
global
    log stdout format raw local0 notice
defaults
    mode {"http" if plain else "tcp"}
    log global
    timeout connect 2s
    timeout client 120s
    timeout server 120s
frontend users
    bind *:{LISTEN_PORT}
    default_backend vip
backend vip
    server vip {vip}:{port}{tls}
"""


def container(ctx: Context, publish_network: str, host_port: int | None = None, plain: bool = False) -> HaproxyContainer:
    assert ctx.vip is not None
    lb_port = ctx.plan.of_kind("lb")[0].port
    c = HaproxyContainer(ctx.run_id, ctx.image_of("lb"), site="publish")
    c.with_name(ctx.plan.ingress_container).with_label("halab.name", "ingress")
    c.on_network(publish_network).on_network(ctx.networks[ctx.plan.of_kind("lb")[0].site])
    c.with_docker_kwargs(ports={f"{LISTEN_PORT}/tcp": ("127.0.0.1", host_port)})
    if plain:
        c.with_copy_into_container(ctx.outside_ca.cert_pem, lb.CA)  # it dials the VIP, as a user
    return c.with_config(config(ctx.vip[0], lb_port, plain))
