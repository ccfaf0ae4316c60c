"""The LLM stub: an OpenAI-compatible chat API with a key, a latency model and fault modes.

    app = build_app(Settings(api_key="k1", admin_token="adm", zero_latency=True))
    # POST /v1/chat/completions  (Authorization: Bearer k1)      -> chat.completion
    # POST /v1/chat/completions  {"stream": true}                -> SSE chunks, then [DONE]
    # GET  /v1/models
    # PUT  /admin/api-key  {"key": "k2", "grace_s": 30}         (X-Admin-Token: adm)
    # PUT  /admin/faults   {"rate_limit_rate": 1, "retry_after_s": 2}
    # PUT  /admin/latency  {"ttft_ms": 100, "tokens_per_s": 80, "seed": 3}
    # GET  /admin/stats

The routes are in `chat.py` and `admin.py`; each is given the app's `Stub` (`stub.py`).
"""

from __future__ import annotations

from system.common.service import create_app
from system.llm_stub import admin, chat
from system.llm_stub.settings import Settings
from system.llm_stub.stub import Stub


def build_app(settings: Settings | None = None):
    settings = settings or Settings()
    stub = Stub(settings)

    def key_ready() -> None:
        if not stub.keys.provisioned:
            raise RuntimeError("no api key provisioned")

    app = create_app("llm_stub", readiness={"api_key": key_ready}, max_body_bytes=settings.max_body_bytes,
                     description="OpenAI-compatible LLM stub with a latency model and fault modes")
    app.state.stub = stub
    app.include_router(chat.router)
    app.include_router(admin.router)
    return app
