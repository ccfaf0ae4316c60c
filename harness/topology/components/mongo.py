"""The managed "Atlas": FerretDB offline (mongo:7 where a registry is reachable), external site."""

from __future__ import annotations

from harness.containers import FerretDBContainer
from harness.topology.components.context import Context
from harness.topology.plan import Placement


def container(ctx: Context, p: Placement) -> FerretDBContainer:
    c = FerretDBContainer(ctx.run_id, ctx.image_of("mongo"), site=p.site)
    return ctx.serve_tls(ctx.place(c, p), p).with_log_level("warn")
