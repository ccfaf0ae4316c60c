"""Fixtures of the LLM stub tests: an in-process app, and the stub as a real process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from llm_stub_support import ADMIN, KEY, StubProcess

from system.llm_stub.app import build_app
from system.llm_stub.settings import Settings


@pytest.fixture
def make_client():
    """Build an in-process stub with some settings; returns a TestClient."""
    clients: list[TestClient] = []

    def make(**overrides) -> TestClient:
        values = {"api_key": KEY, "admin_token": ADMIN, "zero_latency": True, "seed": 1} | overrides
        client = TestClient(build_app(Settings(**values)))
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


@pytest.fixture
def stub_process() -> Iterator:
    """Start `python -m system.llm_stub` processes on 127.0.0.1; all stopped at the end."""
    started: list[StubProcess] = []

    def start(**env: str) -> StubProcess:
        p = StubProcess(**env)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
