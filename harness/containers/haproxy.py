"""HAProxy (and optionally keepalived) from the Debian base image: the `lb` component.

Example (needs a Docker engine, so not a doctest)::

    cfg = "defaults\\n mode http\\n timeout connect 1s\\n ..."
    with HaproxyContainer(run_id).with_config(cfg).on_network(net, "lb1") as lb:
        httpx.get(lb.url("/", port=80))

halab appends a monitor frontend on port 8405 (`monitor-uri /healthz`) to every config, and
the container counts as ready when it answers 200: HAProxy's own "I am up" signal. With
`with_keepalived(conf)` keepalived runs beside HAProxy (NET_ADMIN added for the VIP).
"""

from __future__ import annotations

from harness.containers.base import HalabContainer, http_ok
from harness.kinds import MONITOR_PORT

CONFIG_PATH = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_PATH = "/etc/keepalived/keepalived.conf"

MINIMAL_CONFIG = """\
global
    log stdout format raw local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 30s
    timeout server 30s
"""

MONITOR_FRONTEND = f"""
frontend halab_monitor
    bind *:{MONITOR_PORT}
    mode http
    timeout client 10s
    monitor-uri /healthz
    # Server states for the nemesis's observer (chaos/observer.py): /stats;csv
    stats enable
    stats uri /stats
    # HAProxy's own Prometheus exporter (Debian builds it in: USE_PROMEX), for --with-metrics
    http-request use-service prometheus-exporter if {{ path /metrics }}
"""


class HaproxyContainer(HalabContainer):
    component = "lb"
    port = 80

    def __init__(self, run_id: str, image: str | None = None, **kwargs) -> None:
        super().__init__(run_id, image, **kwargs)
        self._config = MINIMAL_CONFIG
        self._keepalived: str | None = None

    def with_config(self, config: str) -> HaproxyContainer:
        """The haproxy.cfg text (halab's monitor frontend is appended to it)."""
        self._config = config
        return self

    def with_keepalived(self, config: str) -> HaproxyContainer:
        """Run keepalived with this keepalived.conf next to HAProxy (adds NET_ADMIN)."""
        self._keepalived = config
        return self.with_cap_add("NET_ADMIN")

    @property
    def full_config(self) -> str:
        return self._config.rstrip("\n") + "\n" + MONITOR_FRONTEND

    def _configure(self) -> None:
        self.with_copy_into_container(self.full_config.encode(), CONFIG_PATH)
        haproxy = f"exec haproxy -db -W -f {CONFIG_PATH}"
        if self._keepalived is not None:
            self.with_copy_into_container(self._keepalived.encode(), KEEPALIVED_PATH)
            script = f"keepalived --dont-fork --log-console -f {KEEPALIVED_PATH} & {haproxy}"
        else:
            script = haproxy
        self.with_command(["sh", "-c", script])

    @property
    def monitor_url(self) -> str:
        return self.url("/healthz", port=MONITOR_PORT)

    def _probe(self) -> bool:
        return http_ok(self.monitor_url)


# The lb component is HAProxy; the short name reads better in topology code.
LbContainer = HaproxyContainer
