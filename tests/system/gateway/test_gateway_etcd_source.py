"""The gateway's etcd source against a real etcd container: load, watch, big transactions,
compaction, and the etcd3 seeding path."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from harness.containers import EtcdContainer, InternalNetwork
from system.common.etcd import connect
from system.gateway.etcd_http import EtcdHttp
from system.gateway.etcd_source import EtcdConfigSource

pytestmark = [pytest.mark.docker, pytest.mark.anyio]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def etcd(docker_client, run_id):
    with InternalNetwork(run_id, "etcdsrc") as net:
        with EtcdContainer(run_id).on_network(net, "etcd1") as e:
            yield e


async def wait_for(pred, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_load_watch_big_txn_and_compaction(etcd):
    client = connect(etcd.client_url)
    client.delete_prefix("/apisix/")
    client.put("/apisix/routes/a", json.dumps({"uri": "/a"}))
    client.put("/other/x", "not ours")
    seen: list[tuple[dict, int]] = []
    async with aiohttp.ClientSession() as session:
        src = EtcdConfigSource(EtcdHttp(session), [etcd.client_url], "/apisix", lambda kv, rev: seen.append((kv, rev)),
                               reconnect_min_s=0.05, reconnect_max_s=0.2)
        task = asyncio.create_task(src.run())
        try:
            await wait_for(lambda: seen)
            assert set(seen[-1][0]) == {"/apisix/routes/a"} and src.connected
            # A put and a delete arrive through the watch.
            client.put("/apisix/routes/b", json.dumps({"uri": "/b"}))
            await wait_for(lambda: "/apisix/routes/b" in seen[-1][0])
            client.delete("/apisix/routes/a")
            await wait_for(lambda: "/apisix/routes/a" not in seen[-1][0])
            # A transaction of 120 routes (~240 KB; etcd allows 128 operations) is one watch message.
            big = "x" * 2000
            ops = [client.transactions.put(f"/apisix/routes/r{i}", json.dumps({"uri": f"/r{i}", "desc": big}))
                   for i in range(120)]
            client.transaction(compare=[], success=ops, failure=[])
            await wait_for(lambda: len(seen[-1][0]) == 121)
            loads = src.loads
            assert loads == 1
            # Not JSON: kept as an error value, the rest still applies.
            client.put("/apisix/routes/bad", "{nope")
            await wait_for(lambda: "/apisix/routes/bad" in seen[-1][0])
            assert isinstance(seen[-1][0]["/apisix/routes/bad"], Exception)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # Compaction past the source's revision while it was away: it reloads in full.
        stale_rev = src.revision
        for i in range(5):
            client.put("/apisix/routes/c", json.dumps({"uri": f"/c{i}"}))
        head = int(client.get_prefix_response("/apisix", keys_only=True).header.revision)
        client.compact(head)
        src.revision = stale_rev
        task = asyncio.create_task(src._watch())
        with pytest.raises(RuntimeError, match="compacted"):
            await asyncio.wait_for(task, 5)
    client.close()
