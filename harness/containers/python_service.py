"""One of the platform's own services (`python -m system.<service>`) from the python image.

    >>> with PythonServiceContainer(run_id, "cms").with_env("ETCD_URL", etcd_url) \\
    ...         .on_network(net, "cms") as cms:                                    # doctest: +SKIP
    ...     httpx.get(cms.url("/healthz"))

Ready when `GET /healthz` on port 8000 answers 200 (each service answers it with none of
its dependencies up). Without an explicit image, the project image for the current source
is used, and built first if only its source layer is missing.
"""

from __future__ import annotations

from harness.containers.base import HalabContainer, http_ok

PORT = 8000


class PythonServiceContainer(HalabContainer):
    port = PORT

    def __init__(self, run_id: str, service: str, image: str | None = None, **kwargs) -> None:
        self.component = service  # instance attribute: labels and image_for use it
        self.service = service
        if image is None:
            from harness.images import ensure_image

            # After a code change only the source layer is missing: build it (~1 s) rather
            # than fail; anything longer still says "run halab images build".
            image = ensure_image(service, quick_only=True)
        super().__init__(run_id, image, **kwargs)
        self._module = f"system.{service}"

    def with_module(self, module: str) -> PythonServiceContainer:
        """Run another module than system.<service> (a test double, say)."""
        self._module = module
        return self

    def _configure(self) -> None:
        if self._command is None:
            self.with_command(["python", "-m", self._module])

    def _probe(self) -> bool:
        return http_ok(self.url("/healthz"), tls=self.tls)
