"""OPA: one per app node, local to its policy_sync and gateway; it long-polls its policies from
policy_sync as one bundle (system/policy_sync/bundle.py) and reports what it activated."""

from __future__ import annotations

from harness.containers import OpaContainer
from harness.containers.opa import PORT
from harness.topology.components.context import Context
from harness.topology.plan import Placement


class OpaServer(OpaContainer):
    def __init__(self, run_id: str, image: str, port: int, **kw) -> None:
        super().__init__(run_id, image, **kw)
        self.port = port

    def _configure(self) -> None:
        super()._configure()
        self._command = [a.replace(f":{PORT}", f":{self.port}") if a.startswith("--addr=") else a for a in self._command]


def container(ctx: Context, p: Placement) -> OpaServer:
    c = OpaServer(ctx.run_id, ctx.image_of("opa"), p.port, site=p.site)
    c.with_bundle_service(f"{ctx.plan.nearest('policy_sync', p.site).url()}/opa")
    return ctx.serve_tls(ctx.place(c, p), p).with_log_level("error")
