"""system/vectordb: the validation admits what the OpenAPI document admits (in-process app).

JSON Schema counts 44.0 as an integer, so every integer field takes it; writes to points that do
not exist answer Qdrant's 404, not 400."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from system.vectordb import convert as cv
from system.vectordb.app import build_app
from system.vectordb.settings import Settings


@pytest.fixture(scope="module")
def client():
    with TestClient(build_app(Settings(node_id="truth")), raise_server_exceptions=False) as c:
        r = c.put("/collections/tr", json={"vectors": {"v": {"size": 4.0, "distance": "Dot"}},
                                           "sparse_vectors": {"s": {}}})
        assert r.status_code == 200, r.text
        r = c.put("/collections/tr/points?wait=true", json={"points": [
            {"id": i, "vector": {"v": [1, i, 0, 1], "s": {"indices": [1.0, 7.0], "values": [0.5, 1]}},
             "payload": {"n": i, "tags": [i, i + 1]}} for i in range(5)]})
        assert r.status_code == 200, r.text
        yield c


@pytest.mark.parametrize("value, expected", [(7, 7), (7.0, 7), (-3.0, -3), (True, None), (7.5, None),
                                             (float("inf"), None), ("7", None), (None, None)])
def test_integral_is_json_schemas_integer(value, expected):
    assert cv.integral(value) == expected


@pytest.mark.parametrize("flt", [
    {"min_should": {"conditions": [{"key": "n", "match": {"value": 2.0}}], "min_count": 1.0}},
    {"must": [{"key": "n", "match": {"any": [1.0, 2]}}]},
    {"must": [{"key": "n", "match": {"except": [1.0]}}]},
    {"must": [{"key": "tags", "values_count": {"gte": 2.0, "lt": 3.0}}]},
])
def test_integer_valued_floats_in_filters(client, flt):
    r = client.post("/collections/tr/points/count", json={"filter": flt, "exact": True})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["count"] > 0


def test_integer_valued_floats_in_search_params_and_query_ids(client):
    r = client.post("/collections/tr/points/query", json={"query": 2.0, "using": "v", "limit": 2.0,
                                                         "params": {"hnsw_ef": 16.0}})
    assert r.status_code == 200, r.text
    r = client.post("/collections/tr/points/query", json={"query": {"indices": [7.0], "values": [1]}, "using": "s"})
    assert r.status_code == 200, r.text
    assert client.post("/collections/tr/points/count", json={"filter": {"must": [
        {"key": "n", "match": {"value": 2.5}}]}}).status_code == 400


def test_missing_points_answer_404(client):
    for path, body in (("/collections/tr/points/payload", {"payload": {"a": 1}, "points": [404]}),
                       ("/collections/tr/points/payload/delete", {"keys": ["n"], "points": [405]}),
                       ("/collections/tr/points/query", {"query": 406, "using": "v"})):
        r = client.post(path + "?wait=true", json=body)
        assert r.status_code == 404, (path, r.text)
        assert "No point with id" in r.json()["status"]["error"]


RING = [{"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 1, "lat": 1}, {"lon": 0, "lat": 1}]


@pytest.mark.parametrize("path, body", [
    # engine errors that were 500s: a date-time the engine cannot parse, a ring not closed
    ("/collections/tr/points/count", {"filter": {"must": [{"key": "d", "range": {"gt": "yesterday"}}]}}),
    ("/collections/tr/points/count", {"filter": {"must": [{"key": "g", "geo_polygon": {"exterior": {"points": RING}}}]}}),
    ("/collections/tr/points/scroll", {"order_by": {"key": "n", "start_from": "soon"}}),
    # what the document refuses, the node refuses too
    ("/collections/tr/points/count", {"filter": {"must": [{"key": "n", "match": {"value": 1, "any": [1]}}]}}),
    ("/collections/tr/points/count", {"filter": {"must": [{"key": "n"}]}}),
    ("/collections/tr/points/delete", {"filter": {}, "points": [True]}),
    ("/collections/tr/points", {"with_payload": True}),
    ("/collections/tr/index", {"field_name": "k", "field_schema": {"type": "text", "is_tenant": 1}}),
])
def test_refused_with_400(client, path, body):
    method = "PUT" if path.endswith("/index") else "POST"
    r = client.request(method, path, json=body)
    assert r.status_code == 400, (path, r.text)


def test_what_the_document_admits_passes(client):
    closed = {"exterior": {"points": [*RING, RING[0]]}}
    for flt in ({"must": [{}]}, {"must": [{"key": "g", "geo_polygon": closed}]},
                {"must": [{"key": "d", "range": {"gt": "2024-01-01T00:00:00Z"}}]}):
        r = client.post("/collections/tr/points/count", json={"filter": flt})
        assert r.status_code == 200, (flt, r.text)


def test_batches_on_a_missing_collection_answer_404(client):
    for path in ("/collections/nope/points/query/batch", "/collections/nope/points/search/batch"):
        assert client.post(path, json={"searches": []}).status_code == 404


@pytest.mark.parametrize("flt", [{"min_should": {"conditions": [], "min_count": 2**70}},
                                 {"must": [{"key": "tags", "values_count": {"gte": 1, "most": 3}}]}])
def test_out_of_range_and_unknown_fields_are_400(client, flt):
    assert client.post("/collections/tr/points/count", json={"filter": flt}).status_code == 400


@pytest.mark.parametrize("method, path, body", [
    # closed shapes of the document: an unknown field is refused, as Qdrant's serde does
    ("POST", "/collections/tr/points/count", {"filter": {"must": [{"key": "n", "range": {"gt": 1, "most": 3}}]}}),
    ("POST", "/collections/tr/points/count", {"filter": {"must": [{"key": "n", "is_null": True, "x": 1}]}}),
    ("POST", "/collections/tr/points/count", {"filter": {"must": [{"has_id": [1], "must": []}]}}),
    ("POST", "/collections/tr/points/count", {"filter": {"must": [{"is_empty": {"key": "n", "x": 1}}]}}),
    ("POST", "/collections/tr/points/count", {"filter": {"must": [{"key": "g", "geo_radius": {
        "center": {"lon": 0, "lat": 0, "alt": 1}, "radius": 1}}]}}),
    ("POST", "/collections/tr/points/count", {"filter": {"min_should": {"conditions": [], "min_count": 0, "x": 1}}}),
    ("PATCH", "/collections/tr", {"params": False}),
    ("POST", "/collections/nope/points/batch", {"operations": []}),
    ("POST", "/replication/apply", {"sender": ["a"], "entries": []}),
    ("POST", "/replication/apply", {"entries": [{"origin": "x", "seq": 0, "ts": 1, "op": {}}]}),
    ("POST", "/replication/snapshot", {"part": {"kind": "points", "collection": "nope", "points": [
        {"id": 1, "payload": True}]}}),
    ("POST", "/replication/snapshot", {"part": {"kind": "points", "collection": "tr", "points": [
        {"id": 99, "vector": []}]}}),  # a new point: [] is no vector of tr
    ("POST", "/replication/snapshot", {"part": {"kind": "tombstones", "collection": "tr", "stamps": [[1, "x", 2]]}}),
])
def test_what_the_document_refuses_is_refused(client, method, path, body):
    r = client.request(method, path, json=body)
    assert 400 <= r.status_code < 500, (path, r.text)


# --- what a schemathesis run over the points routes found (tests/system/test_openapi_schemathesis.py) ---

def test_an_update_mode_that_is_no_string_is_400_not_500(client):
    r = client.put("/collections/tr/points", json={"points": [{"id": 1, "vector": {"v": [1, 1, 0, 1]}}],
                                                   "update_mode": {}})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("path, allow", [("/collections/tr/points/delete", "POST"),
                                         ("/collections/tr/points/payload", "POST, PUT"),
                                         ("/collections/tr/points/search", "POST"),
                                         ("/collections/tr/points/vectors", "PUT")])
def test_get_on_a_write_or_search_route_is_405(client, path, allow):
    """Not a point id `delete` refused with 400: the route exists, for other methods."""
    r = client.get(path)
    assert r.status_code == 405, r.text
    assert r.headers["allow"] == allow
    assert client.get("/collections/tr/points/nope").status_code == 400  # an id that is neither


@pytest.mark.parametrize("selected", [{"points": []}, {"filter": {"must": [{"has_id": []}]}}])
def test_delete_vectors_checks_its_names_with_no_point_selected(client, selected):
    r = client.post("/collections/tr/points/vectors/delete", json={**selected, "vector": ["nope"]})
    assert r.status_code == 400, r.text
    assert "Not existing vector name" in r.json()["status"]["error"]
    assert client.post("/collections/tr/points/vectors/delete", json={**selected, "vector": ["v", "s"]}).status_code == 200


@pytest.mark.parametrize("collection, vector", [("tu", 2), ("tu", 2.0), ("tu", "00000000-0000-0000-0000-000000000002"),
                                                ("tr", {"name": "v", "vector": 2})])
def test_search_takes_no_point_id_for_a_vector(client, collection, vector):
    """/points/query does; the classic search's document admits only vectors."""
    if collection == "tu":
        client.put("/collections/tu", json={"vectors": {"size": 2, "distance": "Dot"}})
        client.put("/collections/tu/points?wait=true", json={"points": [
            {"id": i, "vector": [1, i]} for i in (2, "00000000-0000-0000-0000-000000000002")]})
    r = client.post(f"/collections/{collection}/points/search", json={"vector": vector, "limit": 2})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("raw, status", [
    (b"9223372036854775807", 200), (b"-9223372036854775807", 200),
    (b"9223372036854775808", 400), (b"-9223372036854775808", 400),
    # orjson reads these as floats, the last one as -2**63.0: still refused
    (b"18446744073709551616", 400), (b"-9223372036854775809", 400)])
def test_match_integers_are_within_the_documented_bound(client, raw, status):
    for match in (b'{"value": %s}' % raw, b'{"any": [%s]}' % raw, b'{"except": [1, %s]}' % raw):
        body = b'{"filter": {"must": [{"key": "n", "match": %s}]}}' % match
        r = client.post("/collections/tr/points/count", content=body, headers={"content-type": "application/json"})
        assert r.status_code == status, (match, r.text)
    bound = client.get("/openapi.json").json()["components"]["schemas"]["Match"]["properties"]["value"]["anyOf"][1]
    assert (bound["minimum"], bound["maximum"]) == (-(2**63) + 1, 2**63 - 1)
