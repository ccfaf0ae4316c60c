"""Helpers of the vectordb tests: nodes as real processes, a host Toxiproxy, polling."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import httpx
from qdrant_client import QdrantClient
from qdrant_client import models as m

from harness.process import ServiceProcess, free_port

TOXIPROXY_BIN = os.environ.get("HALAB_TOXIPROXY_BIN")
TOXIPROXY_IN_IMAGE = "/toxiproxy"  # harness/images/catalog.py


def toxiproxy_binary() -> str | None:
    """HALAB_TOXIPROXY_BIN, a toxiproxy-server on PATH, or the static binary copied out of the
    halab/toxiproxy image (what a fresh machine has after `halab images build`)."""
    if TOXIPROXY_BIN and Path(TOXIPROXY_BIN).exists():
        return TOXIPROXY_BIN
    return shutil.which("toxiproxy-server") or _toxiproxy_from_image()


def _toxiproxy_from_image() -> str | None:
    import io
    import tarfile

    import docker

    from harness.images import ImageNotBuilt, image_for
    from harness.labels import labels

    try:
        tag = image_for("toxiproxy")
    except ImageNotBuilt:
        return None
    target = Path(os.environ.get("TMPDIR", "/tmp")) / f"halab-toxiproxy-{tag.rsplit(':', 1)[1]}"
    if not target.exists():
        client = docker.from_env()
        holder = client.containers.create(tag, labels=labels("pytest-toxiproxy-copy"))  # created, never started
        try:
            stream, _ = holder.get_archive(TOXIPROXY_IN_IMAGE)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                data = tar.extractfile(tar.getmembers()[0]).read()
        finally:
            holder.remove(force=True)
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.chmod(0o755)
        partial.rename(target)
    return str(target)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class NodeProcess(ServiceProcess):
    """`python -m system.vectordb` on 127.0.0.1; restartable on the same port and data dir."""

    def __init__(self, node_id: str, port: int | None = None, peers: str | list[str] | None = None,
                 data_dir: Path | None = None, **env: str) -> None:
        self.node_id = node_id
        self.peers = [peers] if isinstance(peers, str) else list(peers or [])
        self.data_dir = data_dir
        full_env = {"HALAB_VECTORDB_NODE_ID": node_id, "HALAB_VECTORDB_LOG_LEVEL": "warning",
                    "HALAB_VECTORDB_HEARTBEAT_S": "0.2", "HALAB_VECTORDB_RETRY_MAX_S": "0.5", **env}
        if self.peers:
            full_env["HALAB_VECTORDB_PEERS"] = ",".join(self.peers)
        if data_dir is not None:
            full_env["HALAB_VECTORDB_DATA_DIR"] = str(data_dir)
        super().__init__("vectordb", full_env, port, label=f"vectordb-{node_id}", ready_path="/readyz")

    def status(self) -> dict:
        return httpx.get(self.url + "/replication", timeout=5).json()

    def count(self, collection: str) -> int:
        r = httpx.post(f"{self.url}/collections/{collection}/points/count", json={"exact": True}, timeout=5)
        return r.json()["result"]["count"] if r.status_code == 200 else -1


class HostToxiproxy:
    """The Toxiproxy server binary on 127.0.0.1 (the WAN link between two host processes)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return toxiproxy_binary() is not None

    def start(self) -> HostToxiproxy:
        binary = toxiproxy_binary()
        self.proc = subprocess.Popen([binary, "-host", "127.0.0.1", "-port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: httpx.get(self.api + "/version", timeout=0.5).status_code == 200, 10, 0.05, "toxiproxy")
        return self

    def proxy(self, name: str, upstream_port: int) -> int:
        listen = free_port()
        r = httpx.post(self.api + "/proxies", json={"name": name, "listen": f"127.0.0.1:{listen}",
                                                    "upstream": f"127.0.0.1:{upstream_port}", "enabled": True})
        r.raise_for_status()
        return listen

    def set_enabled(self, name: str, enabled: bool) -> None:
        httpx.post(f"{self.api}/proxies/{name}", json={"enabled": enabled}).raise_for_status()

    def add_toxic(self, proxy: str, kind: str, stream: str = "downstream", **attributes) -> None:
        httpx.post(f"{self.api}/proxies/{proxy}/toxics",
                   json={"type": kind, "stream": stream, "attributes": attributes}).raise_for_status()

    def reset(self) -> None:
        httpx.post(self.api + "/reset").raise_for_status()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# Collections and points the replication tests share.
DIM = 8


def client(node) -> QdrantClient:
    return QdrantClient(url=node.url, timeout=15, prefer_grpc=False, check_compatibility=False)


def points(start: int, n: int, group: str = "eng"):
    return [m.PointStruct(id=i, vector=[random.Random(i * 100 + k).random() for k in range(DIM)],
                          payload={"doc_id": f"doc-{i}", "acl_groups": [group]}) for i in range(start, start + n)]


def create(c: QdrantClient, name: str, wcf: int | None = None) -> None:
    c.create_collection(name, vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE),
                        write_consistency_factor=wcf)
