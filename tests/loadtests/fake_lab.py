"""A fake lab for the load generator's own tests and its ceiling: a state file and secrets
directory like `halab up`'s, and a trivial HTTP server on 127.0.0.1 answering the
platform's routes with canned JSON (no I/O behind it), optionally after a delay."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

from harness.topology import state as st

ANSWERS = {
    ("POST", "/rag/query"): {"answer": "x", "sources": [{"doc_id": "gateway-role"}], "timings_ms": {"llm": 1.0}},
    ("POST", "/rag/documents"): {"doc_id": "d", "chunks": 1, "timings_ms": {"embed": 1.0}},
    ("GET", "/cms/policies"): {"policies": []},
}


def _answer(method: str, path: str) -> bytes:
    if method == "PUT" and path.startswith("/cms/policies/"):
        body = {"id": path.rsplit("/", 1)[1], "version": 1, "etcd_revision": 1}
    else:
        body = ANSWERS.get((method, path), {"id": "authz", "versions": []})
    data = json.dumps(body).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Halab-Gateway: gateway1\r\n"
            b"Server-Timing: gateway;dur=0.1\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)


class FakeServer:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.requests = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._conn, "127.0.0.1", 0, backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                method, path, _ = line.decode().split(" ", 2)
                length = 0
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = h.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(_answer(method, path.split("?")[0]))
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def write_state(directory: Path, port: int) -> Path:
    """A state file naming the fake server as the VIP, with consumers' keys beside it."""
    secrets = directory / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    keys = {u: f"key-{u}" for u in ("alice", "bob", "erin", "admin", "rag-service")}
    st.write_secret(secrets, "consumers.json", json.dumps(keys))
    state = st.State("fake", "seed", "fake", time.time(), f"http://127.0.0.1:{port}", "127.0.0.1", "", str(secrets),
                     components={"gateway1": {"kind": "gateway", "site": "dc1"}})
    path = directory / "topology.json"
    st.save(state, path)
    return path
