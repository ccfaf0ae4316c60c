"""FerretDB v1 (SQLite backend, telemetry off) standing in for MongoDB "Atlas"; ready on a pymongo `ping`.

    >>> with FerretDBContainer(run_id).on_network(net, "mongo") as mongo:   # doctest: +SKIP
    ...     pymongo.MongoClient(mongo.mongo_url).halab.docs.insert_one({"a": 1})

With `with_tls` it listens for TLS only, on the same port (clients add `tls=true&tlsCAFile=`),
and is ready once it completes a handshake with its certificate checked for its name: pymongo
cannot be told which name to check at an address, and FerretDB listens only once it serves.
"""

from __future__ import annotations

from harness.containers.base import TLS_CERT, TLS_KEY, HalabContainer
from harness.kinds import KINDS

PORT = KINDS["mongo"].ports["mongo"]


class FerretDBContainer(HalabContainer):
    component = "mongo"
    port = PORT

    def __init__(self, run_id: str, image: str | None = None, **kwargs) -> None:
        super().__init__(run_id, image, **kwargs)
        self._args: list[str] = []
        self._log_level = "info"

    def with_log_level(self, level: str) -> FerretDBContainer:
        self._log_level = level
        return self

    def with_args(self, *args: str) -> FerretDBContainer:
        self._args.extend(args)
        return self

    def _configure(self) -> None:
        listen = [f"--listen-addr=0.0.0.0:{PORT}"] if self.tls is None else [
            "--listen-addr=", f"--listen-tls=0.0.0.0:{PORT}", f"--listen-tls-cert-file={TLS_CERT}",
            f"--listen-tls-key-file={TLS_KEY}"]
        self.with_command(
            [
                *listen,
                "--handler=sqlite",
                "--sqlite-url=file:/data/",
                "--state-dir=/state",
                "--telemetry=disable",
                f"--log-level={self._log_level}",
                *self._args,
            ]
        )

    @property
    def mongo_url(self) -> str:
        # directConnection: FerretDB is not a replica set; never let pymongo go looking.
        return f"mongodb://{self.address()}:{PORT}/?directConnection=true"

    def _probe(self) -> bool:
        if self.tls is not None:
            import socket

            with socket.create_connection((self.address(), PORT), timeout=1.0) as sock, \
                    self.tls.context().wrap_socket(sock, server_hostname=self.tls.name):
                return True
        import pymongo

        client = pymongo.MongoClient(self.mongo_url, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
        try:
            return client.admin.command("ping").get("ok") == 1.0
        finally:
            client.close()
