"""system/vectordb: malformed input never gives a 5xx (hypothesis, in-process app)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from system.vectordb.app import build_app
from system.vectordb.settings import Settings

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=16)
keys = st.sampled_from(["acl_groups", "doc_id", "n", "", "a.b", "x[]"])
condition = st.one_of(
    st.fixed_dictionaries({"key": keys}, optional={"match": st.one_of(
        st.fixed_dictionaries({"value": json_values}), st.fixed_dictionaries({"any": json_values}),
        st.fixed_dictionaries({"except": json_values}), st.fixed_dictionaries({"text": json_values}), json_values),
        "range": st.dictionaries(st.sampled_from(["gt", "gte", "lt", "lte"]), json_values, max_size=3),
        "values_count": st.dictionaries(st.sampled_from(["gt", "lt"]), json_values, max_size=2),
        "is_empty": json_values, "geo_radius": json_values}),
    st.fixed_dictionaries({"has_id": json_values}),
    st.fixed_dictionaries({"is_empty": json_values}),
    st.fixed_dictionaries({"nested": json_values}),
    json_values)
filters = st.one_of(st.none(), json_values, st.fixed_dictionaries(
    {}, optional={"must": st.one_of(condition, st.lists(condition, max_size=3)),
                  "should": st.lists(condition, max_size=3), "must_not": st.lists(condition, max_size=3),
                  "min_should": json_values}))
vectors = st.one_of(json_values, st.lists(st.floats(allow_nan=False, width=32), min_size=4, max_size=4),
                    st.lists(st.integers(), min_size=0, max_size=5))
ids = st.one_of(st.integers(min_value=-5, max_value=2**65), st.uuids().map(str), json_values)
point = st.fixed_dictionaries({"id": ids, "vector": vectors}, optional={"payload": json_values})

CODES: dict[int, int] = {}  # status histogram, printed at the end (the fuzz should reach 200s too)
REQUESTS = st.one_of(
    st.tuples(st.just("PUT"), st.just("/collections/fz/points"),
              st.fixed_dictionaries({"points": st.lists(point, max_size=3)}) | json_values),
    st.tuples(st.just("POST"), st.just("/collections/fz/points/query"), st.fixed_dictionaries(
        {}, optional={"query": vectors | ids | json_values, "filter": filters, "limit": json_values,
                      "prefetch": json_values, "using": json_values, "with_payload": json_values,
                      "with_vector": json_values, "params": json_values, "score_threshold": json_values})),
    st.tuples(st.just("POST"), st.just("/collections/fz/points/search"),
              st.fixed_dictionaries({"vector": vectors, "limit": json_values}, optional={"filter": filters})),
    st.tuples(st.just("POST"), st.just("/collections/fz/points/scroll"), st.fixed_dictionaries(
        {}, optional={"filter": filters, "limit": json_values, "offset": ids, "order_by": json_values,
                      "with_payload": json_values})),
    st.tuples(st.just("POST"), st.just("/collections/fz/points/count"), st.fixed_dictionaries({"filter": filters})),
    st.tuples(st.just("POST"), st.just("/collections/fz/points/delete"),
              st.fixed_dictionaries({}, optional={"points": json_values, "filter": filters})),
    st.tuples(st.just("POST"), st.just("/collections/fz/points/payload"),
              st.fixed_dictionaries({"payload": json_values}, optional={"points": json_values, "filter": filters,
                                                                          "key": json_values})),
    st.tuples(st.just("POST"), st.just("/collections/fz/points"), st.fixed_dictionaries({"ids": json_values})),
    st.tuples(st.just("PUT"), st.just("/collections/fz/index"),
              st.fixed_dictionaries({"field_name": json_values, "field_schema": json_values})),
    st.tuples(st.just("POST"), st.just("/collections/fz/points/batch"), json_values),
    st.tuples(st.sampled_from(["PUT", "PATCH"]), st.sampled_from(["/collections/fz2", "/collections/a%2Fb"]),
              st.fixed_dictionaries({}, optional={"vectors": json_values, "sparse_vectors": json_values,
                                                  "write_consistency_factor": json_values})),
    st.tuples(st.just("POST"), st.just("/replication/apply"),
              st.fixed_dictionaries({"sender": json_values, "entries": json_values})),
)


@pytest.fixture(scope="module")
def client():
    with TestClient(build_app(Settings(node_id="fuzz")), raise_server_exceptions=False) as c:
        assert c.put("/collections/fz", json={"vectors": {"size": 4, "distance": "Cosine"}}).status_code == 200
        c.put("/collections/fz/points?wait=true", json={"points": [
            {"id": i, "vector": [1, i, 0, 1], "payload": {"acl_groups": ["eng"], "n": i}} for i in range(5)]})
        yield c


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(req=REQUESTS)
def test_no_5xx_for_malformed_input(client, req):
    method, path, body = req
    r = client.request(method, path, content=json.dumps(body), headers={"content-type": "application/json"})
    CODES[r.status_code] = CODES.get(r.status_code, 0) + 1
    assert r.status_code < 500, (method, path, body, r.text)
    assert r.headers["content-type"].startswith("application/json")
    client.delete("/collections/fz2")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/collections/fz/points/query", "/collections/fz/points", "/collections/fz/points/scroll"]),
       raw=st.binary(max_size=100))
def test_no_5xx_for_raw_bytes(client, path, raw):
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code < 500


def test_fuzz_reached_valid_requests_too():
    print(f"vectordb fuzz status histogram: {dict(sorted(CODES.items()))}")
    if CODES:
        assert CODES.get(200, 0) > 0
