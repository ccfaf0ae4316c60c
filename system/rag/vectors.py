"""The vector store adapter: qdrant-client against the DC-local node, the other DC's on failure.

The same code runs against real Qdrant and against system/vectordb (Qdrant's REST API), and
in unit tests against qdrant-client's in-memory mode:

    store = VectorStore([AsyncQdrantClient(location=":memory:")], collection="c")
    await store.ensure_collection(dim=64)

Searches are filtered by the user's groups (`acl_groups` any-of); a node that errs or does
not answer within `timeout_s` is skipped for the next. Which node answered is reported.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from qdrant_client import AsyncQdrantClient, models

from system.common.tls import client_context

log = logging.getLogger(__name__)

NODE_NAMES = ("local", "remote")


class VectorStoreUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Hit:
    doc_id: str
    chunk: int
    text: str
    score: float
    acl_groups: tuple[str, ...]


def point_id(doc_id: str, chunk: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"halab:{doc_id}#{chunk}"))


def client_for(url: str, timeout_s: float) -> AsyncQdrantClient:
    # `verify`: passed on to httpx, the lab CA for https:// nodes (system/common/tls.py).
    return AsyncQdrantClient(url=url, timeout=max(1, int(timeout_s + 0.999)), prefer_grpc=False,
                             check_compatibility=False, verify=client_context())


class VectorStore:
    def __init__(self, clients: list[AsyncQdrantClient], collection: str, timeout_s: float = 1.0):
        self.clients = clients
        self.collection = collection
        self.timeout_s = timeout_s
        self._ready_dim: int | None = None

    async def _first(self, op, what: str):
        """Run `op(client)` on the local node, then the remote one; (result, node name)."""
        errors = []
        for name, client in zip(NODE_NAMES, self.clients):
            try:
                return await asyncio.wait_for(op(client), self.timeout_s), name
            except Exception as exc:  # noqa: BLE001 - error or timeout: next node
                errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:120]}")
                log.warning("vector %s on %s node failed: %s", what, name, errors[-1])
        raise VectorStoreUnavailable("; ".join(errors) or "no vector node configured")

    async def ensure_collection(self, dim: int) -> None:
        if self._ready_dim == dim:
            return

        async def op(client: AsyncQdrantClient):
            if not await client.collection_exists(self.collection):
                try:
                    await client.create_collection(self.collection, vectors_config=models.VectorParams(
                        size=dim, distance=models.Distance.COSINE))
                except Exception:
                    if not await client.collection_exists(self.collection):
                        raise

        await self._first(op, "ensure_collection")
        self._ready_dim = dim

    async def replace_document(self, doc_id: str, title: str, acl_groups: list[str], chunks: list[str],
                               vectors: list[list[float]]) -> str:
        points = [models.PointStruct(id=point_id(doc_id, i), vector=vec, payload={
            "doc_id": doc_id, "acl_groups": list(acl_groups), "text": text, "chunk": i, "title": title})
            for i, (text, vec) in enumerate(zip(chunks, vectors))]

        async def op(client: AsyncQdrantClient):
            # Chunks of an earlier version beyond the new count must go.
            await client.delete(self.collection, points_selector=models.FilterSelector(filter=_doc_filter(doc_id)),
                                wait=True)
            if points:
                await client.upsert(self.collection, points=points, wait=True)

        _, node = await self._first(op, "upsert")
        return node

    async def delete_document(self, doc_id: str) -> str:
        async def op(client: AsyncQdrantClient):
            await client.delete(self.collection, points_selector=models.FilterSelector(filter=_doc_filter(doc_id)),
                                wait=True)

        _, node = await self._first(op, "delete")
        return node

    async def search(self, vector: list[float], groups: list[str], limit: int) -> tuple[list[Hit], str]:
        flt = models.Filter(must=[models.FieldCondition(key="acl_groups", match=models.MatchAny(any=list(groups)))])

        async def op(client: AsyncQdrantClient):
            res = await client.query_points(self.collection, query=vector, query_filter=flt, limit=limit,
                                            with_payload=True)
            return res.points

        points, node = await self._first(op, "search")
        hits = []
        for p in points:
            pl = p.payload or {}
            hits.append(Hit(doc_id=str(pl.get("doc_id", "")), chunk=int(pl.get("chunk", 0)), text=str(pl.get("text", "")),
                            score=float(p.score), acl_groups=tuple(pl.get("acl_groups") or ())))
        return hits, node

    async def ping(self) -> None:
        await self._first(lambda c: c.get_collections(), "ping")

    async def close(self) -> None:
        for c in self.clients:
            await c.close()


def _doc_filter(doc_id: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))])
