"""Helpers of the vectordb tests: nodes as real processes, a host Toxiproxy, polling."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from qdrant_client import QdrantClient
from qdrant_client import models as m

REPO = Path(__file__).resolve().parents[3]
TOXIPROXY_BIN = Path(os.environ.get("HALAB_TOXIPROXY_BIN", "/tmp/gowarm/bin/server"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class NodeProcess:
    """`python -m system.vectordb` on 127.0.0.1; restartable on the same port and data dir."""

    def __init__(self, node_id: str, port: int | None = None, peers: str | list[str] | None = None,
                 data_dir: Path | None = None, **env: str) -> None:
        self.node_id = node_id
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.peers = [peers] if isinstance(peers, str) else list(peers or [])
        self.data_dir = data_dir
        self.extra_env = env
        self.proc: subprocess.Popen | None = None
        self._log_path = Path(tempfile.gettempdir()) / f"vectordb-{node_id}-{self.port}.log"

    def start(self, wait: bool = True) -> "NodeProcess":
        env = {**os.environ, "HALAB_VECTORDB_HOST": "127.0.0.1", "HALAB_VECTORDB_PORT": str(self.port),
               "HALAB_VECTORDB_NODE_ID": self.node_id, "HALAB_VECTORDB_LOG_LEVEL": "warning",
               "HALAB_VECTORDB_HEARTBEAT_S": "0.2", "HALAB_VECTORDB_RETRY_MAX_S": "0.5", **self.extra_env}
        if self.peers:
            env["HALAB_VECTORDB_PEERS"] = ",".join(self.peers)
        if self.data_dir is not None:
            env["HALAB_VECTORDB_DATA_DIR"] = str(self.data_dir)
        self._log = open(self._log_path, "a+")
        self.proc = subprocess.Popen([sys.executable, "-m", "system.vectordb"], cwd=REPO, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.node_id} exited {self.proc.returncode}: {self.output()[-2000:]}")
            try:
                return httpx.get(self.url + "/readyz", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False
        wait_until(up, timeout, 0.05, f"node {self.node_id} healthy")

    def output(self) -> str:
        try:
            return self._log_path.read_text()
        except OSError:
            return ""

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

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
        return TOXIPROXY_BIN.exists() or shutil.which("toxiproxy-server") is not None

    def start(self) -> "HostToxiproxy":
        binary = str(TOXIPROXY_BIN) if TOXIPROXY_BIN.exists() else shutil.which("toxiproxy-server")
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
