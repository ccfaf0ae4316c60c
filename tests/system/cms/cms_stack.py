"""The CMS docker tests' helpers: a uvicorn thread, the stack handle, unique ids."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import uvicorn

from harness.process import free_port
from system.cms.settings import CmsSettings
from system.common.identity import Asserted

ADMIN = "alice"
IDENTITY_KEY = "the-gateways-and-the-cms-share-this"  # system/common/identity.py


class ServerThread:
    """An ASGI app under uvicorn in a thread, on 127.0.0.1:<free port>; a context manager."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Stack:
    etcd: object
    opa: object
    mongo: object
    etcd_endpoint: str
    opa_url: str
    mongo_url: str
    cms_url: str
    psync_url: str
    settings: CmsSettings
    sync: object
    _clients: list = field(default_factory=list)

    def cms(self, user: str | None = ADMIN, timeout: float = 30.0) -> httpx.Client:
        c = httpx.Client(base_url=self.cms_url, auth=Asserted(IDENTITY_KEY, user) if user else None, timeout=timeout,
                         trust_env=False)
        self._clients.append(c)
        return c

    def etcd_client(self):
        from system.common.etcd import connect

        return connect(self.etcd_endpoint, timeout=5)

    def mongo_db(self):
        import pymongo

        c = pymongo.MongoClient(self.mongo_url, serverSelectionTimeoutMS=3000, tz_aware=True)
        self._clients.append(c)
        return c[self.settings.mongo_db]

    def opa_data(self, path: str, input: dict | None = None):
        r = httpx.post(f"{self.opa_url}/v1/data/{path}", json={"input": input or {}}, trust_env=False, timeout=5)
        r.raise_for_status()
        return r.json().get("result")

    def close(self) -> None:
        for c in self._clients:
            c.close()


def uid(prefix: str = "p") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


