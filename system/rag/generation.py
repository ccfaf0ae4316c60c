"""The query's LLM step: the hairpin behind a circuit breaker and a deadline.

`generate` gives the LLM's answer, or a `Degradation` saying why there is none, so the
query can still answer with the retrieved sources:

- `circuit-open`: the breaker is open (or half-open with its one trial under way), so the
  LLM is not called at all and the answer comes at once;
- `llm-429`, `llm-5xx`, `llm-unreachable`: the hairpin failed (llm.py says how);
- `llm-timeout`: no answer within `deadline_s` (HALAB_RAG_LLM_DEADLINE_S), both gateways'
  attempts included, so a hanging LLM costs a user at most that.

Each of these counts as a failure for the breaker; a 429's Retry-After opens it at once for
at least that long (breaker.py). A refusal (another 4xx) or a 200 that is no chat
completion is raised as `LlmUnavailable`, as before: it says nothing about the LLM's health.

    >>> import asyncio
    >>> from system.rag.breaker import CircuitBreaker
    >>> class Down:
    ...     async def chat(self, messages, request_id=None):
    ...         raise LlmUnavailable("local gateway answered 429", 429, retry_after_s=12)
    >>> breaker = CircuitBreaker(cool_down_s=5, clock=lambda: 0.0)
    >>> asyncio.run(generate(Down(), breaker, [], deadline_s=1))
    Degradation(reason='llm-429', retry_after_s=12.0, circuit='open', gateway='none')
    >>> asyncio.run(generate(Down(), breaker, [], deadline_s=1)).reason    # not called again
    'circuit-open'
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from .breaker import CircuitBreaker, State
from .llm import LlmUnavailable

log = logging.getLogger(__name__)


class Chat(Protocol):
    async def chat(self, messages: list[dict], request_id: str | None = None) -> tuple[str, str]: ...


@dataclass(frozen=True)
class Generated:
    text: str
    gateway: str  # which DC's gateway answered: local | remote


@dataclass(frozen=True)
class Degradation:
    """No generated answer: why, when this service calls the LLM again (None: unknown or at
    once), the breaker's state after this query, and the gateway whose answer this was."""

    reason: str
    retry_after_s: float | None
    circuit: State
    gateway: str = "none"


async def generate(llm: Chat, breaker: CircuitBreaker, messages: list[dict], *, deadline_s: float,
                   request_id: str | None = None) -> Generated | Degradation:
    call = breaker.acquire()
    if call is None:
        return Degradation("circuit-open", breaker.retry_after_s(), breaker.state)
    try:
        async with asyncio.timeout(deadline_s):
            text, gateway = await llm.chat(messages, request_id=request_id)
    except TimeoutError:
        breaker.failure(call)
        log.warning("request %s: LLM gave no answer within %.1f s", request_id, deadline_s)
        return Degradation("llm-timeout", breaker.retry_after_s(), breaker.state)
    except LlmUnavailable as exc:
        if not exc.outage:
            breaker.release(call)
            raise
        breaker.failure(call, exc.retry_after_s if exc.reason == "llm-429" else None)
        log.warning("request %s: LLM unavailable (%s): %s", request_id, exc.reason, exc)
        return Degradation(exc.reason, _retry_after(breaker, exc), breaker.state, exc.gateway or "none")
    except BaseException:
        # Cancelled (the user went away) or a bug: no verdict on the LLM, but free a trial's slot.
        breaker.release(call)
        raise
    breaker.success(call)
    return Generated(text, gateway)


def _retry_after(breaker: CircuitBreaker, exc: LlmUnavailable) -> float | None:
    """The breaker's wait when it is open; else what the LLM said (a 429 short of opening it)."""
    wait = breaker.retry_after_s()
    return wait if wait is not None else exc.retry_after_s
