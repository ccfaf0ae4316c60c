"""OpenAI's chat routes: the model list and chat completions, plain or streamed (SSE).

A request is authorised, validated, may draw a fault, then gets the deterministic answer of
`answer.py`, paced by the latency model: all at once, or token by token.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from system.common.openapi import json_body
from system.llm_stub.answer import answer_for, count_tokens, message_text, tokens
from system.llm_stub.faults import Fault
from system.llm_stub.latency import Timing
from system.llm_stub.models import ChatRequest
from system.llm_stub.stub import Stub, StubDep

router = APIRouter(prefix="/v1", tags=["openai"])


def openai_error(status: int, message: str, type_: str, code: str | None = None,
                 headers: dict | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def unauthorised() -> JSONResponse:
    return openai_error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key",
                        headers={"WWW-Authenticate": "Bearer"})


_OPENAI_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["message", "type"],
    "properties": {"message": {"type": "string"}, "type": {"type": "string"}, "param": {}, "code": {}}}}}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _OPENAI_ERROR}}}


UNAUTHORISED = {401: _error("No or a wrong key in Authorization: Bearer")}


@router.get("/models", summary="Models the stub answers as", responses=UNAUTHORISED)
async def list_models(request: Request, stub: StubDep):
    if stub.authorise(request.headers.get("authorization")) is None:
        return unauthorised()
    return {"object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "halab"} for m in stub.settings.model_ids]}


@router.post("/chat/completions", summary="OpenAI chat completion (stream or not)",
             openapi_extra=json_body(ChatRequest),
             responses={**UNAUTHORISED, 400: _error("The body is not JSON or not a chat request (OpenAI's shape)"),
                        429: _error("Rate-limit fault drawn (PUT /admin/faults); Retry-After says when"),
                        200: {"description": "chat.completion, or with stream: SSE chunks then [DONE]",
                              "content": {"application/json": {}, "text/event-stream": {}}}})
async def chat_completions(request: Request, stub: StubDep):
    stub.stats["requests"] += 1
    which = stub.authorise(request.headers.get("authorization"))
    if which is None:
        return unauthorised()
    req = await _chat_request(request, stub)
    if isinstance(req, JSONResponse):
        return req

    fault = stub.faults.draw()
    stall = None
    if fault is not None:
        stub.stats[f"fault_{fault.kind}"] += 1
        if fault.kind == "stall" and req.stream:
            stall = fault
        elif fault.kind in ("hang", "stall"):
            await asyncio.sleep(fault.hang_s)
        elif fault.kind == "rate_limit":
            return openai_error(429, "Rate limit reached (stub fault).", "rate_limit_error", "rate_limit_exceeded",
                                headers={"Retry-After": str(fault.retry_after_s)})
        else:
            return openai_error(fault.status, "The server had an error (stub fault).", "server_error")

    stub.stats["accepted"] += 1
    stub.stats[f"accepted_{which}_key"] += 1
    reply = _Reply.of(req, stub.latency.sample)
    headers = {"X-Stub-TTFT-Ms": f"{reply.timing.ttft_s * 1000:.9g}", "X-Stub-Key": which}
    if not req.stream:
        return await _completion(reply, headers)
    include_usage = bool(req.stream_options and req.stream_options.include_usage)
    return StreamingResponse(_events(reply, stall, include_usage), media_type="text/event-stream",
                             headers={**headers, "Cache-Control": "no-cache"})


async def _chat_request(request: Request, stub: Stub) -> ChatRequest | JSONResponse:
    """The body as a ChatRequest, or OpenAI's 400 (counted as rejected_invalid)."""
    try:
        raw = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        stub.stats["rejected_invalid"] += 1
        return openai_error(400, "The request body is not valid JSON.", "invalid_request_error")
    try:
        return ChatRequest.model_validate(raw)
    except ValidationError as exc:
        stub.stats["rejected_invalid"] += 1
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return openai_error(400, f"Invalid request: {where}: {first.get('msg', 'invalid')}"[:500],
                            "invalid_request_error")


@dataclass(frozen=True)
class _Reply:
    """One answer: its tokens (cut at the request's limit), usage and drawn timing."""

    cid: str
    created: int
    model: str
    pieces: list[str]
    finish: str
    usage: dict
    timing: Timing

    @classmethod
    def of(cls, req: ChatRequest, sample_timing) -> _Reply:
        messages = [m.model_dump() for m in req.messages]
        pieces = tokens(answer_for(messages))
        limit = req.max_completion_tokens or req.max_tokens
        finish = "stop"
        if limit is not None and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        prompt_tokens = sum(count_tokens(message_text(m.get("content"))) for m in messages)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces),
                 "total_tokens": prompt_tokens + len(pieces)}
        timing = sample_timing()
        return cls(f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), req.model, pieces, finish, usage, timing)


async def _completion(reply: _Reply, headers: dict) -> JSONResponse:
    """The whole answer, after the time to first token and every token's decode time."""
    delay = reply.timing.ttft_s + reply.timing.per_token_s * len(reply.pieces)
    if delay > 0:
        await asyncio.sleep(delay)
    return JSONResponse({
        "id": reply.cid, "object": "chat.completion", "created": reply.created, "model": reply.model,
        "system_fingerprint": "halab-stub",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(reply.pieces)},
                     "logprobs": None, "finish_reason": reply.finish}],
        "usage": reply.usage}, headers=headers)


def _event(body: dict) -> bytes:
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


async def _events(reply: _Reply, stall: Fault | None, include_usage: bool):
    """The SSE stream: a role chunk, one chunk per token (paced; a stall hangs mid-way), the finish, usage."""
    head = {"id": reply.cid, "object": "chat.completion.chunk", "created": reply.created, "model": reply.model}

    def chunk(delta: dict, finish_reason: str | None) -> bytes:
        return _event({**head, "system_fingerprint": "halab-stub",
                       "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]})

    timing = reply.timing
    start = time.monotonic()
    if timing.ttft_s > 0:
        await asyncio.sleep(timing.ttft_s)
    yield chunk({"role": "assistant", "content": ""}, None)
    for i, piece in enumerate(reply.pieces):
        # Pace against the clock, so sleep overshoot does not accumulate.
        due = start + timing.ttft_s + i * timing.per_token_s
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if stall is not None and i == stall.after_tokens:
            await asyncio.sleep(stall.hang_s)
        yield chunk({"content": piece}, None)
    yield chunk({}, reply.finish)
    if include_usage:
        yield _event({**head, "choices": [], "usage": reply.usage})
    yield b"data: [DONE]\n\n"
