"""The LLM stub: an OpenAI-compatible chat API with a key, a latency model and fault modes.

    app = build_app(Settings(api_key="k1", admin_token="adm", zero_latency=True))
    # POST /v1/chat/completions  (Authorization: Bearer k1)      -> chat.completion
    # POST /v1/chat/completions  {"stream": true}                -> SSE chunks, then [DONE]
    # GET  /v1/models
    # PUT  /admin/api-key  {"key": "k2", "grace_s": 30}         (X-Admin-Token: adm)
    # PUT  /admin/faults   {"rate_limit_rate": 1, "retry_after_s": 2}
    # PUT  /admin/latency  {"ttft_ms": 100, "tokens_per_s": 80, "seed": 3}
    # GET  /admin/stats
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from system.common.service import create_app
from system.llm_stub.answer import answer_for, count_tokens, message_text, tokens
from system.llm_stub.faults import FaultConfig, Faults
from system.llm_stub.keys import KeyRing
from system.llm_stub.latency import LatencyModel
from system.llm_stub.settings import Settings

log = logging.getLogger(__name__)
KEY_FILE_POLL_S = 0.5
MAX_KEY_CHARS = 4096


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int = Field(1, ge=1, le=1)
    seed: int | None = None
    temperature: float | None = Field(None, ge=0, le=2)


class KeyRotation(BaseModel):
    key: str = Field(min_length=1, max_length=MAX_KEY_CHARS)
    grace_s: float | None = Field(None, ge=0, le=86400)

    def __repr__(self) -> str:  # never show the key, even in a traceback
        return f"KeyRotation(key=***, grace_s={self.grace_s})"

    __str__ = __repr__


class FaultUpdate(FaultConfig):
    seed: int | None = None


class LatencyUpdate(BaseModel):
    ttft_ms: float | None = Field(None, ge=0, le=600_000)
    ttft_sigma: float | None = Field(None, ge=0, le=5)
    tokens_per_s: float | None = Field(None, gt=0, le=1_000_000)
    zero: bool | None = None
    seed: int | None = None


class Stub:
    """The stub's state: keys, latency, faults and counters (one per app)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        key = settings.api_key.get_secret_value() if settings.api_key else None
        self.keys = KeyRing(key, grace_s=settings.key_grace_s)
        self.latency = LatencyModel(settings.ttft_ms, settings.ttft_sigma, settings.tokens_per_s,
                                    settings.zero_latency, settings.seed)
        self.faults = Faults(seed=settings.seed)
        self.stats: Counter[str] = Counter()
        self._key_file: Path | None = settings.api_key_file
        self._key_file_seen: tuple[float, int] | None = None
        self._key_file_checked = 0.0
        self.refresh_key_file(force=True)

    def refresh_key_file(self, force: bool = False) -> None:
        """A key file that changed is a rotation (the old key gets its grace period)."""
        if self._key_file is None:
            return
        now = time.monotonic()
        if not force and now - self._key_file_checked < KEY_FILE_POLL_S:
            return
        self._key_file_checked = now
        try:
            st = self._key_file.stat()
            sig = (st.st_mtime, st.st_size)
            if sig == self._key_file_seen:
                return
            key = self._key_file.read_text().strip()
        except OSError as exc:
            log.warning("cannot read the key file: %s", type(exc).__name__)
            return
        self._key_file_seen = sig
        if key:
            self.keys.rotate(key)
            log.info("api key loaded from file (generation %d)", self.keys.generation)


def _openai_error(status: int, message: str, type_: str, code: str | None = None,
                  headers: dict | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def build_app(settings: Settings | None = None):
    settings = settings or Settings()
    stub = Stub(settings)

    def key_ready() -> None:
        if not stub.keys.provisioned:
            raise RuntimeError("no api key provisioned")

    app = create_app("llm_stub", readiness={"api_key": key_ready}, max_body_bytes=settings.max_body_bytes,
                     description="OpenAI-compatible LLM stub with a latency model and fault modes")
    app.state.stub = stub

    def authorise(request: Request) -> str | None:
        stub.refresh_key_file()
        which = stub.keys.check(_bearer(request.headers.get("authorization")))
        if which is None:
            stub.stats["rejected_auth"] += 1
        return which

    def unauthorised() -> JSONResponse:
        return _openai_error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key",
                             headers={"WWW-Authenticate": "Bearer"})

    v1 = APIRouter(prefix="/v1", tags=["openai"])

    @v1.get("/models", summary="Models the stub answers as")
    async def list_models(request: Request):
        if authorise(request) is None:
            return unauthorised()
        return {"object": "list",
                "data": [{"id": m, "object": "model", "created": 0, "owned_by": "halab"} for m in settings.model_ids]}

    @v1.post("/chat/completions", summary="OpenAI chat completion (stream or not)",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object", "required": ["model", "messages"]}}}}})
    async def chat_completions(request: Request):
        stub.stats["requests"] += 1
        which = authorise(request)
        if which is None:
            return unauthorised()
        try:
            raw = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            stub.stats["rejected_invalid"] += 1
            return _openai_error(400, "The request body is not valid JSON.", "invalid_request_error")
        try:
            req = ChatRequest.model_validate(raw)
        except ValidationError as exc:
            stub.stats["rejected_invalid"] += 1
            first = exc.errors()[0] if exc.errors() else {}
            where = ".".join(str(p) for p in first.get("loc", ()))
            return _openai_error(400, f"Invalid request: {where}: {first.get('msg', 'invalid')}"[:500],
                                 "invalid_request_error")

        fault = stub.faults.draw()
        stall = None
        if fault is not None:
            stub.stats[f"fault_{fault.kind}"] += 1
            if fault.kind == "stall" and req.stream:
                stall = fault
            elif fault.kind in ("hang", "stall"):
                await asyncio.sleep(fault.hang_s)
            elif fault.kind == "rate_limit":
                return _openai_error(429, "Rate limit reached (stub fault).", "rate_limit_error", "rate_limit_exceeded",
                                     headers={"Retry-After": str(fault.retry_after_s)})
            else:
                return _openai_error(fault.status, "The server had an error (stub fault).", "server_error")

        stub.stats["accepted"] += 1
        stub.stats[f"accepted_{which}_key"] += 1
        messages = [m.model_dump() for m in req.messages]
        text = answer_for(messages)
        pieces = tokens(text)
        limit = req.max_completion_tokens or req.max_tokens
        finish = "stop"
        if limit is not None and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        content = "".join(pieces)
        prompt_tokens = sum(count_tokens(message_text(m.get("content"))) for m in messages)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces),
                 "total_tokens": prompt_tokens + len(pieces)}
        timing = stub.latency.sample()
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        headers = {"X-Stub-TTFT-Ms": f"{timing.ttft_s * 1000:.9g}", "X-Stub-Key": which}
        if not req.stream:
            delay = timing.ttft_s + timing.per_token_s * len(pieces)
            if delay > 0:
                await asyncio.sleep(delay)
            return JSONResponse({
                "id": cid, "object": "chat.completion", "created": created, "model": req.model,
                "system_fingerprint": "halab-stub",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "logprobs": None, "finish_reason": finish}],
                "usage": usage}, headers=headers)

        include_usage = bool(req.stream_options and req.stream_options.include_usage)

        def chunk(delta: dict, finish_reason: str | None, **extra) -> bytes:
            body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
                    "system_fingerprint": "halab-stub",
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
                    **extra}
            return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

        async def events():
            start = time.monotonic()
            if timing.ttft_s > 0:
                await asyncio.sleep(timing.ttft_s)
            yield chunk({"role": "assistant", "content": ""}, None)
            for i, piece in enumerate(pieces):
                # Pace against the clock, so sleep overshoot does not accumulate.
                due = start + timing.ttft_s + i * timing.per_token_s
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if stall is not None and i == stall.after_tokens:
                    await asyncio.sleep(stall.hang_s)
                yield chunk({"content": piece}, None)
            yield chunk({}, finish)
            if include_usage:
                body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
                        "choices": [], "usage": usage}
                yield b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={**headers, "Cache-Control": "no-cache"})

    def require_admin(x_admin_token: Annotated[str | None, Header()] = None,
                      authorization: Annotated[str | None, Header()] = None) -> None:
        import hmac

        if settings.admin_token is None:
            raise HTTPException(403, "admin endpoints are disabled (no admin token configured)")
        presented = x_admin_token or _bearer(authorization) or ""
        if not hmac.compare_digest(presented.encode(), settings.admin_token.get_secret_value().encode()):
            raise HTTPException(401, "admin token required (X-Admin-Token)")

    admin = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])

    @admin.put("/api-key", summary="Rotate the API key; the old one works for grace_s more")
    async def rotate_key(body: KeyRotation):
        stub.keys.rotate(body.key, body.grace_s)
        log.info("api key rotated (generation %d)", stub.keys.generation)
        return stub.keys.status()

    @admin.get("/api-key", summary="Key status (never the key)")
    async def key_status():
        stub.refresh_key_file()
        return stub.keys.status()

    @admin.get("/faults")
    async def get_faults():
        return stub.faults.status()

    @admin.put("/faults", summary="Set fault modes: error_rate, rate_limit_rate + retry_after_s, hang_rate + hang_s, "
                                  "stall_rate + stall_after_tokens")
    async def set_faults(body: FaultUpdate):
        stub.faults.configure(FaultConfig(**body.model_dump(exclude={"seed"})), seed=body.seed)
        return stub.faults.status()

    @admin.delete("/faults", summary="Heal: no faults")
    async def clear_faults():
        stub.faults.clear()
        return stub.faults.status()

    @admin.get("/latency")
    async def get_latency():
        return stub.latency.describe()

    @admin.put("/latency", summary="Change the latency model (fields left out keep their value)")
    async def set_latency(body: LatencyUpdate):
        m = stub.latency
        for field in ("ttft_ms", "ttft_sigma", "tokens_per_s", "zero"):
            value = getattr(body, field)
            if value is not None:
                setattr(m, field, value)
        if body.seed is not None:
            m.reseed(body.seed)
        return m.describe()

    @admin.get("/stats", summary="Request counters")
    async def stats():
        return dict(stub.stats)

    @admin.delete("/stats", summary="Reset the request counters")
    async def reset_stats():
        stub.stats.clear()
        return {}

    app.include_router(v1)
    app.include_router(admin)
    return app
