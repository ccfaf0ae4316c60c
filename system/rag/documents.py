"""`/documents`: ingest (chunk, embed, upsert to the vector store, metadata to MongoDB), read, delete."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import AfterValidator, BaseModel, Field

from system.common.consumer import consumer

from .chunking import chunk_text
from .deps import Deps
from .vectors import VectorStoreUnavailable

# Who may ingest is OPA's decision at the gateway; here, only that the gateway asked.
router = APIRouter(prefix="/documents", tags=["documents"], dependencies=[Depends(consumer)],
                   responses={401: {"description": "no identity the gateway signed (X-Consumer-Assertion)"}})

DOC_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
GROUP = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
Group = Annotated[str, Field(pattern=GROUP, description="letters, digits and . _ : -, up to 64 characters")]
# An unknown or malformed id is the same answer: no such document (404).
DocId = Annotated[str, Path(json_schema_extra={"pattern": DOC_ID})]


class DocumentIn(BaseModel):
    doc_id: str | None = Field(default=None, pattern=DOC_ID)
    title: str = Field(min_length=1, max_length=300)
    text: str = Field(min_length=1, max_length=200_000)
    acl_groups: Annotated[list[Group], AfterValidator(lambda v: sorted(set(v)))] = Field(min_length=1, max_length=50)


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    acl_groups: list[str]
    chunks: int
    vector_node: str | None = None
    timings_ms: dict[str, float] = {}


_BY_ID = {"doc_id": "$response.body#/doc_id"}


@router.post("", status_code=201, response_model=DocumentOut,
             responses={503: {"description": "vector store or MongoDB unavailable"},
                         201: {"description": "Ingested", "links": {
                             "ReadDocument": {"operationId": "read_document", "parameters": _BY_ID},
                             "DeleteDocument": {"operationId": "delete_document", "parameters": _BY_ID}}}})
async def ingest(doc: DocumentIn, deps: Deps) -> DocumentOut:
    t0 = time.perf_counter()
    doc_id = doc.doc_id or uuid.uuid4().hex
    chunks = chunk_text(doc.text, deps.settings.chunk_chars, deps.settings.chunk_overlap)
    if not chunks:
        raise HTTPException(422, "text has no words")
    t1 = time.perf_counter()
    vectors = await asyncio.to_thread(deps.embedder.embed, chunks)
    t2 = time.perf_counter()
    try:
        await deps.vectors.ensure_collection(deps.embedder.dim)
        node = await deps.vectors.replace_document(doc_id, doc.title, doc.acl_groups, chunks, vectors)
    except VectorStoreUnavailable as exc:
        raise HTTPException(503, f"vector store unavailable: {exc}") from exc
    t3 = time.perf_counter()
    # Metadata after the chunks: a document listed in MongoDB always has its chunks stored.
    try:
        await deps.store.put_document(doc_id, doc.title, doc.acl_groups, len(chunks))
    except Exception as exc:
        raise HTTPException(503, f"MongoDB unavailable: {type(exc).__name__}") from exc
    t4 = time.perf_counter()
    ms = lambda a, b: round((b - a) * 1000, 3)
    return DocumentOut(doc_id=doc_id, title=doc.title, acl_groups=doc.acl_groups, chunks=len(chunks), vector_node=node,
                       timings_ms={"chunk": ms(t0, t1), "embed": ms(t1, t2), "upsert": ms(t2, t3),
                                   "metadata": ms(t3, t4), "total": ms(t0, t4)})


@router.get("/{doc_id}", response_model=DocumentOut, operation_id="read_document",
            responses={404: {"description": "no such document"}})
async def read(doc_id: DocId, deps: Deps) -> DocumentOut:
    if not re.fullmatch(DOC_ID, doc_id):
        raise HTTPException(404, "no such document")
    try:
        doc = await deps.store.document(doc_id)
    except Exception as exc:
        raise HTTPException(503, f"MongoDB unavailable: {type(exc).__name__}") from exc
    if doc is None:
        raise HTTPException(404, "no such document")
    return DocumentOut(doc_id=doc["_id"], title=doc.get("title", ""), acl_groups=list(doc.get("acl_groups", [])),
                       chunks=int(doc.get("chunks", 0)))


@router.delete("/{doc_id}", status_code=204, operation_id="delete_document",
               responses={404: {"description": "no such document"}})
async def delete(doc_id: DocId, deps: Deps) -> None:
    if not re.fullmatch(DOC_ID, doc_id):
        raise HTTPException(404, "no such document")
    try:
        found = await deps.store.delete_document(doc_id)
    except Exception as exc:
        raise HTTPException(503, f"MongoDB unavailable: {type(exc).__name__}") from exc
    if not found:
        raise HTTPException(404, "no such document")
    try:
        await deps.vectors.delete_document(doc_id)
    except VectorStoreUnavailable as exc:
        # Metadata is gone, so queries drop these chunks already (they check MongoDB).
        raise HTTPException(503, f"metadata deleted, vector store unavailable: {exc}") from exc
