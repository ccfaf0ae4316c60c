"""The request bodies: OpenAI's chat request (as much of it as the stub reads) and the admin updates."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from system.llm_stub.faults import FaultConfig

MAX_KEY_CHARS = 4096


class _JsonTypes(BaseModel):
    """JSON's types as the schema states them: `false` or `"5"` is not a seed and `0` is not a
    boolean. pydantic's lax mode would take each; its strict mode would also refuse 535.0,
    which JSON Schema calls an integer."""

    @field_validator("*", mode="before")
    @classmethod
    def _json_types(cls, value: Any, info: ValidationInfo) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        if value is None:
            return value
        if annotation in (bool, bool | None) and not isinstance(value, bool):
            raise ValueError("must be a boolean")
        if annotation in _NUMBERS and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError("must be a number")
        return value


_NUMBERS = (int, float, int | None, float | None)


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
