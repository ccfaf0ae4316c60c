"""OPA: one per app node, local to its policy_sync and gateway (policies arrive through policy_sync)."""

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
    return ctx.serve_tls(ctx.place(c, p), p).with_log_level("error")
