"""The CMS and policy_sync in the python image, as the topology runs them: every piece a
container on one internal network, configured only through HALAB_* variables."""

from __future__ import annotations

import time
from contextlib import ExitStack

import httpx
import pytest
from cms_stack import IDENTITY_KEY

from system.common.settings import SECRETS_DIR

pytestmark = pytest.mark.docker


def test_seeded_policy_is_enforced_with_every_piece_in_a_container(docker_client, run_id):
    from harness.containers import EtcdContainer, FerretDBContainer, InternalNetwork, OpaContainer, PythonServiceContainer
    from harness.images import ImageNotBuilt, ensure_image
    from system.cms.seed import seed

    try:
        image = ensure_image("cms", quick_only=True)
    except ImageNotBuilt as exc:
        pytest.skip(str(exc))
    with ExitStack() as es:
        net = es.enter_context(InternalNetwork(run_id, "cmsc"))
        es.enter_context(EtcdContainer(run_id).on_network(net, "etcd"))
        opa = es.enter_context(OpaContainer(run_id).on_network(net, "opa"))
        es.enter_context(FerretDBContainer(run_id).on_network(net, "mongo"))
        es.enter_context(
            PythonServiceContainer(run_id, "policy_sync", image).on_network(net, "policy-sync")
            .with_env("HALAB_POLICY_SYNC_ETCD_ENDPOINT", "etcd:2379")
            .with_env("HALAB_POLICY_SYNC_OPA_URL", "http://opa:8181"))
        cms = es.enter_context(
            PythonServiceContainer(run_id, "cms", image).on_network(net, "cms")
            .with_env("HALAB_CMS_ETCD_ENDPOINT", "etcd:2379")
            .with_env("HALAB_CMS_MONGO_URL", "mongodb://mongo:27017/?directConnection=true")
            .with_env("HALAB_CMS_OPA_URL", "http://opa:8181")
            .with_env("HALAB_CMS_POLICY_SYNC_URL", "http://policy-sync:8000")
            # The identity key as the topology gives it: a 0600 file the settings read, no variable.
            .with_copy_into_container(IDENTITY_KEY.encode(), f"{SECRETS_DIR}/HALAB_CMS_IDENTITY_KEY", mode=0o600))
        result = seed(cms.url(), admin="root", wait_enforced=True, identity_key=IDENTITY_KEY)[0]
        assert result["result"] == "update successful" and result["enforced"] is True
        decision = httpx.post(opa.url("/v1/data/halab/authz"), trust_env=False, timeout=5, json={"input": {
            "request": {"method": "PUT", "path": "/cms/policies/x"},
            "consumer": {"username": "bob", "role": "user"}}}).json()["result"]
        assert decision["allow"] is False and decision["status_code"] == 403
        t0 = time.monotonic()
        assert httpx.get(cms.url("/readyz"), trust_env=False).json()["checks"] == {"mongo": "ok", "etcd": "ok", "opa": "ok"}
        assert time.monotonic() - t0 < 5
