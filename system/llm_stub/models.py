"""The request bodies: OpenAI's chat request (as much of it as the stub reads) and the admin updates."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from system.llm_stub.faults import FaultConfig

MAX_KEY_CHARS = 4096


class _JsonTypes(BaseModel):
    """JSON's types as the schema states them: `false` is not a seed and `0` is not a boolean.
    pydantic's lax mode would take either; its strict mode would also refuse 535.0, which
    JSON Schema calls an integer."""

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_are_not_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        is_bool_field = cls.model_fields[info.field_name].annotation in (bool, bool | None)
        if is_bool_field and value is not None and not isinstance(value, bool):
            raise ValueError("must be a boolean")
        if isinstance(value, bool) and not is_bool_field:
            raise ValueError("a boolean is not a number")
        return value


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(_JsonTypes):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(_JsonTypes):
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


class KeyRotation(_JsonTypes):
    key: str = Field(min_length=1, max_length=MAX_KEY_CHARS)
    grace_s: float | None = Field(None, ge=0, le=86400)

    def __repr__(self) -> str:  # never show the key, even in a traceback
        return f"KeyRotation(key=***, grace_s={self.grace_s})"

    __str__ = __repr__


class FaultUpdate(FaultConfig, _JsonTypes):
    seed: int | None = None


class LatencyUpdate(_JsonTypes):
    ttft_ms: float | None = Field(None, ge=0, le=600_000)
    ttft_sigma: float | None = Field(None, ge=0, le=5)
    tokens_per_s: float | None = Field(None, gt=0, le=1_000_000)
    zero: bool | None = None
    seed: int | None = None
