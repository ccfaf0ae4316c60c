"""system.common.etcd.connect against a real etcd whose listener goes away and comes back."""

from __future__ import annotations

import time

import httpx
import pytest

from harness.waiting import eventually
from system.common.etcd import connect, etcd3

pytestmark = pytest.mark.docker

PROXY_PORT = 12379


@pytest.fixture
def etcd_behind_proxy(docker_client, run_id):
    """etcd reached through a Toxiproxy proxy: disabling it refuses connections at once, as an
    etcd container does while it restarts, and deterministically."""
    from harness.containers import EtcdContainer, InternalNetwork, ToxiproxyContainer

    with (InternalNetwork(run_id, "etcdclient") as net,
          EtcdContainer(run_id).on_network(net, "etcd") as etcd,
          ToxiproxyContainer(run_id).on_network(net, "proxy") as proxy):
        proxy.create_proxy("etcd", f"0.0.0.0:{PROXY_PORT}", f"{etcd.name}:2379")
        yield proxy


def set_enabled(proxy, enabled: bool) -> None:
    httpx.post(proxy.url("/proxies/etcd"), json={"enabled": enabled}, timeout=5).raise_for_status()


def test_a_client_made_after_etcd_returns_is_not_held_back_by_an_older_clients_failures(etcd_behind_proxy):
    proxy = etcd_behind_proxy
    endpoint = f"{proxy.address()}:{PROXY_PORT}"
    old = connect(endpoint, timeout=1)
    old.put("/k", "before")
    set_enabled(proxy, False)
    try:
        # Refused dials for long enough that gRPC's default backoff (1 s x 1.6^n) would have
        # grown to several seconds; a new client sharing that subchannel would then fail at once.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            with pytest.raises(etcd3.exceptions.ConnectionFailedError):
                old.get("/k")
            time.sleep(0.2)
    finally:
        set_enabled(proxy, True)
    fresh = connect(endpoint, timeout=2)
    fresh.put("/k", "after")
    back = time.monotonic()
    eventually(lambda: old.get("/k")[0] == b"after", timeout_s=5, poll_s=0.05, what="old client reconnects")
    print(f"old client back {time.monotonic() - back:.2f} s after etcd")
    old.close()
    fresh.close()
