"""The stub's state (keys, latency, faults, counters), one per app, and the dependency that gives
it to the routes.

    stub = Stub(Settings(api_key="k1"))
    stub.authorise("Bearer k1")     # -> "current"; a wrong or missing key -> None (counted)

    @router.get("/faults")
    async def get_faults(stub: StubDep): ...
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from system.llm_stub.faults import Faults
from system.llm_stub.keys import KeyRing
from system.llm_stub.latency import LatencyModel
from system.llm_stub.settings import Settings

log = logging.getLogger(__name__)
KEY_FILE_POLL_S = 0.5


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None.

    >>> bearer("Bearer k1"), bearer("bearer  k1 "), bearer("Basic k1"), bearer("Bearer ")
    ('k1', 'k1', None, None)
    """
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


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

    def authorise(self, authorization: str | None) -> str | None:
        """Which key the caller presented ("current" or "previous"); None (and counted) if neither."""
        self.refresh_key_file()
        which = self.keys.check(bearer(authorization))
        if which is None:
            self.stats["rejected_auth"] += 1
        return which


async def current_stub(request: Request) -> Stub:
    return request.app.state.stub


StubDep = Annotated[Stub, Depends(current_stub)]
