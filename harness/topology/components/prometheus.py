"""`--with-metrics`: one Prometheus on every site network, scraping what scrape.py lists."""

from __future__ import annotations

from harness.containers import PrometheusContainer
from harness.topology.components.context import Context
from harness.topology.scrape import CA_FILE, CLIENT_FILES, config_text


def container(ctx: Context) -> PrometheusContainer:
    c = PrometheusContainer(ctx.run_id, ctx.image_of("prometheus"), site="lab")
    c.with_name(f"prometheus-{ctx.plan.tag}").with_label("halab.name", "prometheus")
    c.with_ready_timeout(ctx.ready_timeout_s).with_config(config_text(ctx.plan))
    c.with_copy_into_container(ctx.trust_pem, CA_FILE)
    issued = ctx.ca.issue("prometheus")  # its client certificate, for the targets that ask for one
    c.with_copy_into_container(issued.cert_pem, CLIENT_FILES[0])
    c.with_copy_into_container(issued.key_pem, CLIENT_FILES[1], mode=0o600)
    for site in ctx.plan.topology.sites:
        c.on_network(ctx.networks[site.name], "prometheus")
    return c
