"""`halab cpu`'s measurement on the seed lab: a short load of each flow gives CPU per request
for the components that flow goes through, and the idle span's background is counted apart."""

from __future__ import annotations

import pytest

from harness.clients.cpu_demand import demand
from harness.scenario import POLICY_UPDATE, RAG_QUERY

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_each_flow_costs_cpu_where_it_goes(seed_lab) -> None:
    found = demand(seed_lab, (RAG_QUERY, POLICY_UPDATE), rps=5.0, duration_s=6.0, progress=lambda _m: None)
    query, update = found["cpu_s"][RAG_QUERY], found["cpu_s"][POLICY_UPDATE]
    assert all(found["measured"]["flows"][f]["completed"] > 0 for f in (RAG_QUERY, POLICY_UPDATE)), found["measured"]
    assert query["rag"] > 0 and query["gateway"] > 0 and query["client"] > 0, query
    assert update["cms"] > 0 and update["opa"] > 0, update
    # A policy update does not go through RAG, nor a query through the CMS: a fifth at most.
    assert update.get("rag", 0) < query["rag"] / 5 and query.get("cms", 0) < update["cms"] / 5, (query, update)
    assert found["cpu"] == "host" and found["host_cores"] >= 1
