"""Helpers of the LLM stub tests: constants and the stub as a real process."""

from __future__ import annotations

from harness.process import ServiceProcess

KEY = "sk-test-current"
ADMIN = "admin-test-token"


class StubProcess(ServiceProcess):
    """`python -m system.llm_stub` on 127.0.0.1 with the test key and admin token, started at once."""

    def __init__(self, **env: str) -> None:
        super().__init__("llm_stub", {"HALAB_LLM_STUB_API_KEY": KEY, "HALAB_LLM_STUB_ADMIN_TOKEN": ADMIN,
                                      "HALAB_LLM_STUB_LOG_LEVEL": "warning", **env})
        self.start(timeout=20)
