"""The RAG service's FastAPI app: `/documents`, `/query`, `/status`, plus `/healthz` and `/readyz`.

`/status` shows the LLM circuit breaker. It is not part of readiness: with the breaker open
the service still answers every query (degraded, with its sources), so the LB must keep
sending it traffic.

    app = build_app(RagSettings())                 # real adapters, built at startup
    app = build_app(settings, deps=fake_deps)      # tests
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from pydantic import BaseModel

from system.common.service import create_app

from . import documents, query
from .breaker import BreakerStatus
from .deps import Deps, RagDeps
from .settings import RagSettings


class StatusOut(BaseModel):
    llm_breaker: BreakerStatus
    llm_deadline_s: float


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
    app.state.identity_key = settings.identity_key.get_secret_value().encode()

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

    @app.get("/status", tags=["status"], response_model=StatusOut,
             summary="The LLM circuit breaker: state, seconds until a trial may go, counters")
    async def status(d: Deps) -> StatusOut:
        return StatusOut(llm_breaker=d.breaker.status(), llm_deadline_s=d.settings.llm_deadline_s)

    return app
