"""`POST /query`: the RAG query flow, timed step by step.

profile (MongoDB) → embed → search (vector node filtered by the user's groups, the other
DC's node on failure) → metadata (MongoDB; chunks of documents missing there or no longer
readable by the user are dropped) → prompt → llm (hairpin through the gateway) → answer.

The user is the gateway's `X-Consumer-Username` (the gateway strips that header from
clients, so it cannot be forged through the gateway), believed only with the gateway's
signed X-Consumer-Assertion (system/common/identity.py), so not forged beside it either.

When the LLM fails (429, 5xx, unreachable, no answer within HALAB_RAG_LLM_DEADLINE_S) or
its circuit breaker is open, the query still answers 200 with its sources: `answer` is the
fixed DEGRADED_ANSWER and `degraded` says why (generation.py); otherwise `degraded` is null.
The LLM step's time is then reported as `llm_degraded`, not `llm`, so that it is not taken
for the LLM's service time (simulation/calibrate.py fits `llm` from these figures).
`GET /status` (app.py) shows the breaker.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException
from pydantic import BaseModel, Field

from system.common.consumer import Consumer

from .deps import Deps
from .generation import Degradation, generate
from .llm import LlmUnavailable
from .prompt import build_messages
from .vectors import VectorStoreUnavailable

router = APIRouter(tags=["query"])


class QueryIn(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    top_k: int | None = Field(default=None, ge=1, le=50)


class Source(BaseModel):
    doc_id: str
    title: str
    chunk: int
    score: float


DEGRADED_ANSWER = "Answer generation is unavailable right now; the sources listed are the documents that match the question."


class Degraded(BaseModel):
    """Why a query has no generated answer (its sources are as usual)."""

    reason: Literal["llm-429", "llm-5xx", "llm-timeout", "llm-unreachable", "circuit-open"] = Field(
        description="llm-*: this query's LLM call failed (429, 5xx from the gateway, no answer within the deadline, no "
                    "connection); circuit-open: the LLM was not called, the circuit breaker is open")
    retry_after_s: float | None = Field(
        description="seconds until this service calls the LLM again (the breaker's open time left, or a 429's "
                    "Retry-After); null: unknown, or at once")
    circuit: Literal["closed", "open", "half-open"] = Field(description="the LLM circuit breaker's state after this query")


class QueryOut(BaseModel):
    answer: str = Field(description=f"the LLM's answer; when `degraded` is set, always {DEGRADED_ANSWER!r}")
    sources: list[Source]
    user: str
    vector_node: str
    gateway: str = Field(description="the gateway whose LLM answer this is: local, remote, or none")
    timings_ms: dict[str, float] = Field(description="per step: profile, embed, search, metadata, prompt, then llm "
                                                     "(or llm_degraded when degraded), and total")
    degraded: Degraded | None = Field(description="null: a generated answer; else why there is none")


@router.post("/query", response_model=QueryOut, responses={
    401: {"description": "no user identity (X-Consumer-Username), or no valid X-Consumer-Assertion for it (the gateway's)"},
    403: {"description": "unknown user"},
    503: {"description": "MongoDB or the vector store unavailable, or the gateway refuses this service's LLM calls"}})
async def query(q: QueryIn, deps: Deps, x_consumer_username: Consumer,
                x_request_id: Annotated[str | None, Header(max_length=200)] = None) -> QueryOut:
    timings: dict[str, float] = {}
    t = time.perf_counter()
    start = t

    def lap(step: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[step] = round((now - t) * 1000, 3)
        t = now

    try:
        user = await deps.store.user(x_consumer_username)
    except Exception as exc:
        raise HTTPException(503, f"MongoDB unavailable: {type(exc).__name__}") from exc
    if user is None:
        raise HTTPException(403, f"unknown user {x_consumer_username[:100]!r}")
    groups = [g for g in user.get("groups") or [] if isinstance(g, str)]
    lap("profile")

    vector = (await asyncio.to_thread(deps.embedder.embed, [q.question]))[0]
    lap("embed")

    hits, node = [], "none"
    if groups:
        try:
            await deps.vectors.ensure_collection(deps.embedder.dim)
            hits, node = await deps.vectors.search(vector, groups, q.top_k or deps.settings.top_k)
        except VectorStoreUnavailable as exc:
            raise HTTPException(503, f"vector store unavailable: {exc}") from exc
    lap("search")

    try:
        meta = await deps.store.documents(sorted({h.doc_id for h in hits}))
    except Exception as exc:
        raise HTTPException(503, f"MongoDB unavailable: {type(exc).__name__}") from exc
    mine = set(groups)
    hits = [h for h in hits if h.doc_id in meta and mine & set(meta[h.doc_id].get("acl_groups") or [])]
    lap("metadata")

    messages = build_messages(q.question, [(f"{h.doc_id}#{h.chunk}", h.text) for h in hits])
    lap("prompt")

    try:
        result = await generate(deps.llm, deps.breaker, messages, deadline_s=deps.settings.llm_deadline_s,
                                request_id=x_request_id)
    except LlmUnavailable as exc:
        raise HTTPException(503, f"LLM unavailable: {exc}") from exc
    degraded = None
    if isinstance(result, Degradation):
        lap("llm_degraded")
        answer, gateway = DEGRADED_ANSWER, result.gateway
        degraded = Degraded(reason=result.reason, retry_after_s=result.retry_after_s, circuit=result.circuit)
    else:
        lap("llm")
        answer, gateway = result.text, result.gateway
    timings["total"] = round((time.perf_counter() - start) * 1000, 3)
    sources = [Source(doc_id=h.doc_id, title=str(meta[h.doc_id].get("title", "")), chunk=h.chunk, score=h.score)
               for h in hits]
    return QueryOut(answer=answer, sources=sources, user=x_consumer_username, vector_node=node, gateway=gateway,
                    timings_ms=timings, degraded=degraded)

