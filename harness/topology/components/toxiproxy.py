"""The WAN link's one multi-homed Toxiproxy container: on every site network, answering there
for the remote components that site dials (wan.aliases_by_site)."""

from __future__ import annotations

from harness.containers import ToxiproxyContainer
from harness.topology.components.context import Context
from harness.topology.wan import Route, aliases_by_site


def container(ctx: Context, routes: tuple[Route, ...]) -> ToxiproxyContainer:
    c = ToxiproxyContainer(ctx.run_id, ctx.image_of("toxiproxy"), site="wan")
    c.with_name(ctx.plan.wan_container).with_label("halab.name", "wan")
    aliases = aliases_by_site(routes)
    for site in ctx.plan.topology.sites:
        c.on_network(ctx.networks[site.name], *aliases.get(site.name, ()))
    return c
