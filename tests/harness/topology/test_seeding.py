"""harness.topology.seeding.wait_for_query without a lab: any object with the `StartedLab` shape
(harness/topology/lab.py) will do (realise.Running is one); answers other than 200 and HTTP errors are "not yet"."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest

from harness.pki import CA_CERT, LabCa
from harness.topology import seeding
from harness.topology.lab import StartedLab


@pytest.fixture
def lab(tmp_path) -> StartedLab:
    LabCa.create("unit").save(tmp_path)  # the VIP client trusts the run's CA
    state = SimpleNamespace(vip_url="https://127.0.0.1:9", ca_file=str(tmp_path / CA_CERT), client_cert=None)
    return SimpleNamespace(plan=None, state=state, consumers={"alice": "k"}, url=lambda name, role=None: "")


def test_waits_through_errors_and_refusals_for_an_answer(lab, monkeypatch) -> None:
    answers = iter([httpx.ConnectError("refused"), httpx.Response(503, text="no server"), httpx.Response(200)])

    def query(http, key, question):
        a = next(answers)
        if isinstance(a, Exception):
            raise a
        return a

    monkeypatch.setattr(seeding, "query", query)
    assert seeding.wait_for_query(lab, timeout_s=10).status_code == 200


def test_the_last_refusal_is_in_the_message(lab, monkeypatch) -> None:
    monkeypatch.setattr(seeding, "query", lambda http, key, q: httpx.Response(503, text="no server is available"))
    with pytest.raises(RuntimeError, match=r"no RAG answer through the VIP within 0 s \(last: 503 no server is available\)"):
        seeding.wait_for_query(lab, timeout_s=0.1)


def test_an_unknown_user_is_not_retried(lab) -> None:
    with pytest.raises(KeyError):
        seeding.wait_for_query(lab, user="mallory", timeout_s=60)
