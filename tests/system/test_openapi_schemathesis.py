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
    replication routes. The points routes are not run yet: schemathesis cannot negate their
    either-points-or-filter rule ("a `not` whose complement is not spelled out"), and its
    coverage phase on their recursive filter schemas did not end in 10 minutes (5 GB); see
    schemathesis_hooks' HALAB_VECTORDB_FIXTURE for fitting them to a collection."""
    from system.vectordb.app import build_app
    from system.vectordb.settings import Settings

    with serving(build_app(Settings(node_id="schemathesis"))) as url:
        for selection in (("--exclude-path-regex", "^/(collections/\\{collection_name\\}/points|replication)"),
                          ("--include-path-regex", "^/replication")):
            report = run(url + "/openapi.json", extra=selection)
            assert problems(report) == {}, (selection, report["output"][-4000:])
