"""The RAG service's external systems, built once and injected into the routers.

    deps = RagDeps.from_settings(RagSettings())       # real adapters
    app = build_app(settings, deps=fake_deps)         # tests hand in fakes

The LLM's circuit breaker is built from the settings unless one is handed in (a test's, on
a fake clock): one per process, shared by every query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from system.common.tls import client_context

from .breaker import CircuitBreaker
from .embedding import Embedder, make_embedder
from .llm import HairpinClient
from .settings import RagSettings
from .store import MongoStore
from .vectors import VectorStore


@dataclass
class RagDeps:
    settings: RagSettings
    store: MongoStore
    vectors: VectorStore
    embedder: Embedder
    llm: HairpinClient
    breaker: CircuitBreaker | None = None

    def __post_init__(self) -> None:
        if self.breaker is None:
            self.breaker = CircuitBreaker(self.settings.llm_breaker_failures, self.settings.llm_breaker_cool_down_s)

    @classmethod
    def from_settings(cls, s: RagSettings) -> RagDeps:
        import httpx
        from pymongo import AsyncMongoClient

        from .vectors import client_for

        mongo = AsyncMongoClient(s.mongo_url, serverSelectionTimeoutMS=s.mongo_timeout_ms,
                                 connectTimeoutMS=s.mongo_timeout_ms, socketTimeoutMS=5 * s.mongo_timeout_ms)
        urls = [u for u in (s.vector_url_local, s.vector_url_remote) if u]
        vectors = VectorStore([client_for(u, s.vector_timeout_s) for u in urls], s.collection, s.vector_timeout_s)
        llm = HairpinClient(httpx.AsyncClient(trust_env=False, verify=client_context()), [s.gateway_url_local, s.gateway_url_remote],
                            s.gateway_api_key.get_secret_value(), path=s.llm_path, model=s.model,
                            timeout_s=s.llm_timeout_s, connect_timeout_s=s.llm_connect_timeout_s)
        return cls(settings=s, store=MongoStore(mongo, s.mongo_db), vectors=vectors,
                   embedder=make_embedder(s.embedder, s.embed_dim, s.minilm_model), llm=llm)

    async def close(self) -> None:
        await self.llm.close()
        await self.vectors.close()
        await self.store.close()


def get_deps(request: Request) -> RagDeps:
    return request.app.state.deps


Deps = Annotated[RagDeps, Depends(get_deps)]
