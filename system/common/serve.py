"""Run an ASGI app under uvicorn: the `__main__` of every FastAPI service."""

from __future__ import annotations

import logging
import ssl

import uvicorn

from system.common.tls import clients_ca, server_files


def serve(app, host: str = "0.0.0.0", port: int = 8000, log_level: str = "info") -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # HTTPS when the container holds a certificate (system/common/tls.py), plain HTTP otherwise.
    cert, key = server_files() or (None, None)
    cafile = clients_ca()
    mutual = {"ssl_ca_certs": cafile, "ssl_cert_reqs": ssl.CERT_REQUIRED} if cafile and cert else {}
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, ssl_certfile=cert, ssl_keyfile=key, **mutual)
