"""The RAG service's FastAPI app: `/documents`, `/query`, plus `/healthz` and `/readyz`.

    app = build_app(RagSettings())                 # real adapters, built at startup
    app = build_app(settings, deps=fake_deps)      # tests
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from system.common.service import create_app

from . import documents, query
from .deps import RagDeps
from .settings import RagSettings


def build_app(settings: RagSettings | None = None, deps: RagDeps | None = None):
    settings = settings or RagSettings()
    holder: dict[str, RagDeps] = {}

    async def mongo_ping() -> None:
        await holder["deps"].store.ping()

    async def vector_ping() -> None:
        await holder["deps"].vectors.ping()

    app = create_app("rag", readiness={"mongo": mongo_ping, "vectordb": vector_ping},
                     max_body_bytes=settings.max_body_bytes,
                     description="Ingest documents; answer questions with context the user may read, via the gateway's LLM hairpin.")
    owned = deps is None

    @asynccontextmanager
    async def lifespan(_app):
        d = deps or RagDeps.from_settings(settings)
        holder["deps"] = d
        app.state.deps = d
        try:
            yield
        finally:
            if owned:
                await d.close()

    app.router.lifespan_context = lifespan
    app.include_router(documents.router)
    app.include_router(query.router)
    return app
