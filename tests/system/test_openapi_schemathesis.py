"""Every service's OpenAPI tells the truth: the schemathesis CLI with `--checks all` finds no
failing check and raises no warning (no "mostly rejected generated data"). Each service runs
in-process on 127.0.0.1 with its stores faked (no I/O behind them), since what is checked is
the HTTP contract: schema, validation and the status codes answered."""

from __future__ import annotations

import pytest
from qdrant_client import AsyncQdrantClient

from system.common import identity
from tests.system.cms.cms_fakes import FakeCompiler, FakeEtcd, FakeMetadata, FakeProbe
from tests.system.common.schemathesis_cli import problems, run, serving
from tests.system.policy_sync.test_policy_sync_fake import FakeEtcd as FakeSyncEtcd
from tests.system.policy_sync.test_policy_sync_fake import FakeOpa, FakeSource
from tests.system.rag.test_rag_fake import USERS, FakeLlm, FakeStore

pytestmark = pytest.mark.timeout(300)
KEY = "the-gateways-and-the-services-share-this"
ALICE = identity.headers(KEY.encode(), "alice", ttl_s=3600)  # the gateway's, for the whole run


def test_cms_openapi_with_fakes_is_honest() -> None:
    from system.cms.api import build_app
    from system.cms.settings import CmsSettings

    app = build_app(CmsSettings(reconciler_enabled=False, enforce_timeout_s=0.2, identity_key=KEY), meta=FakeMetadata(),
                    etcd=FakeEtcd(), compiler=FakeCompiler(), probe=FakeProbe())
    with serving(app) as url:
        report = run(url + "/openapi.json", headers=ALICE)
    assert problems(report) == {}, report["output"][-4000:]


def test_rag_openapi_with_fakes_is_honest() -> None:
    from system.rag.app import build_app
    from system.rag.deps import RagDeps
    from system.rag.embedding import HashingEmbedder
    from system.rag.settings import RagSettings
    from system.rag.vectors import VectorStore

    settings = RagSettings(embed_dim=64, identity_key=KEY)
    vectors = VectorStore([AsyncQdrantClient(location=":memory:")], "chunks", timeout_s=1.0)
    deps = RagDeps(settings=settings, store=FakeStore(USERS), vectors=vectors, embedder=HashingEmbedder(64),
                   llm=FakeLlm())
    with serving(build_app(settings, deps=deps)) as url:
        report = run(url + "/openapi.json", headers=ALICE)
    assert problems(report) == {}, report["output"][-4000:]


def test_policy_sync_openapi_with_fakes_is_honest() -> None:
    from system.policy_sync.app import build_app
    from system.policy_sync.syncer import PolicySync

    etcd = FakeSyncEtcd()
    with serving(build_app(sync=PolicySync(lambda: FakeSource(etcd), FakeOpa()))) as url:
        report = run(url + "/openapi.json")
    assert problems(report) == {}, report["output"][-4000:]


def test_llm_stub_openapi_is_honest() -> None:
    """In three runs: the OpenAI routes first, then the admin controls (a fuzzed latency model
    would make every later completion crawl), then the key rotation (a fuzzed key locks the
    OpenAI routes out)."""
    from system.llm_stub.app import build_app
    from system.llm_stub.settings import Settings

    headers = {"Authorization": "Bearer k1", "X-Admin-Token": "adm"}
    with serving(build_app(Settings(api_key="k1", admin_token="adm", zero_latency=True))) as url:
        for selection in (("--exclude-path-regex", "^/admin/"),
                          ("--include-path-regex", "^/admin/(faults|latency|stats)"),
                          ("--include-path", "/admin/api-key")):
            report = run(url + "/openapi.json", headers=headers, extra=selection)
            assert problems(report) == {}, (selection, report["output"][-4000:])


def test_vectordb_openapi_is_honest_outside_the_points_routes() -> None:
    """The collection routes (whose fuzzing creates and deletes collections), then the
    replication routes. The points routes have their own run, against one collection
    (test_vectordb_points_openapi_is_honest)."""
    from system.vectordb.app import build_app
    from system.vectordb.settings import Settings

    with serving(build_app(Settings(node_id="schemathesis"))) as url:
        for selection in (("--exclude-path-regex", "^/(collections/\\{collection_name\\}/points|replication)"),
                          ("--include-path-regex", "^/replication")):
            report = run(url + "/openapi.json", extra=selection)
            assert problems(report) == {}, (selection, report["output"][-4000:])


def test_vectordb_points_openapi_is_honest(monkeypatch) -> None:
    """The points routes, against one collection (one unnamed dense vector of 4 numbers, a range
    index on `rank`, a few points): HALAB_VECTORDB_FIXTURE fits the document schemathesis reads
    to it (a vector's length and names depend on the collection; no schema can say so).

    The examples, fuzzing and stateful phases, not the coverage one: schemathesis cannot negate
    these routes' either-points-or-filter rule and the recursive Filter ("a `not` whose complement
    is not spelled out, below the document root"), and its coverage phase on the recursive filter
    schemas did not end in 10 minutes (5 GB).

    The served document keeps Filter recursive, as the node takes filters of any depth (Qdrant's
    clients send must -> should -> must ...). Only the copy schemathesis generates from is bounded
    (HALAB_VECTORDB_FILTER_DEPTH: a filter within a filter, no deeper); a "negative" case that is
    invalid only in that copy, one the served document admits, is dropped (schemathesis_hooks'
    filter_case validates it with jsonschema against the served document), so the run never calls
    a valid request invalid. No Hypothesis database: every run starts from the seed alone."""
    import httpx

    from system.vectordb.app import build_app
    from system.vectordb.settings import Settings

    monkeypatch.setenv("HALAB_VECTORDB_FIXTURE", '{"name": "fx", "size": 4, "ordered": "rank"}')
    monkeypatch.setenv("HALAB_VECTORDB_FILTER_DEPTH", "2")
    with serving(build_app(Settings(node_id="schemathesis"))) as url:
        for method, path, body in (
                ("PUT", "/collections/fx", {"vectors": {"size": 4, "distance": "Dot"}}),
                ("PUT", "/collections/fx/index?wait=true", {"field_name": "rank", "field_schema": "integer"}),
                ("PUT", "/collections/fx/points?wait=true", {"points": [
                    {"id": i, "vector": [1, i, 0, 1], "payload": {"rank": i, "tag": f"t{i % 3}"}} for i in range(10)]})):
            r = httpx.request(method, url + path, json=body)
            assert r.status_code == 200, r.text
        report = run(url + "/openapi.json", extra=(
            "--include-path-regex", "^/collections/\\{collection_name\\}/points",
            # No coverage phase: it cannot negate these routes' schemas and never ends on them (docstring).
            "--phases", "examples,fuzzing,stateful", "--generation-database", "none"))
    assert problems(report) == {}, report["output"][-6000:]


def test_the_filters_are_bounded_only_in_the_copy_schemathesis_generates_from() -> None:
    """A filter three levels deep: valid as served, not in the bounded copy; filter_case keeps a
    negative case only when the served document refuses it too."""
    import copy
    from types import SimpleNamespace

    import jsonschema
    from schemathesis.core.parameters import ParameterLocation

    from system.vectordb.app import build_app
    from system.vectordb.settings import Settings
    from tests.system.common import schemathesis_hooks as hooks

    served = build_app(Settings(node_id="bounded")).openapi()
    bounded = copy.deepcopy(served)
    hooks._bound_filters(bounded, 2)
    leaf = {"key": "rank", "match": {"value": 1}}
    two = {"filter": {"must": [{"should": [leaf]}, {"nested": {"key": "a", "filter": {"must": [leaf]}}}]}}
    three = {"filter": {"must": [{"should": [{"must_not": [leaf]}]}]}}
    nested_three = {"filter": {"must": [{"should": [{"nested": {"key": "a", "filter": {}}}]}]}}

    def valid(document: dict, body: dict) -> bool:
        schema = document["paths"]["/collections/{collection_name}/points/count"]["post"]["requestBody"]
        schema = {**schema["content"]["application/json"]["schema"], "components": document["components"]}
        return jsonschema.Draft202012Validator(schema).is_valid(body)

    assert valid(served, two) and valid(bounded, two)
    for deep in (three, nested_three):
        assert valid(served, deep) and not valid(bounded, deep)
    hooks._SERVED = served
    try:
        body = SimpleNamespace(mode=SimpleNamespace(is_negative=True))
        meta = SimpleNamespace(generation=SimpleNamespace(mode=SimpleNamespace(is_positive=False)),
                               components={ParameterLocation.BODY: body})
        op = SimpleNamespace(path="/collections/{collection_name}/points/count")
        assert hooks.filter_case(None, SimpleNamespace(meta=meta, operation=op, method="POST", body=three)) is False
        assert hooks.filter_case(None, SimpleNamespace(meta=meta, operation=op, method="POST",
                                                       body={"filter": {"must": [{"key": "rank"}]}})) is True
    finally:
        hooks._SERVED = None
