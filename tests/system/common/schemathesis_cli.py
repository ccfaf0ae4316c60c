"""Run the schemathesis CLI (`--checks all`) against a live service and read its JSON report.

What the issue calls an honest OpenAPI: no check fails (server errors, undocumented status
codes, schema-valid requests rejected, invalid ones accepted, responses off their schema) and
no warning (an operation that "mostly rejected generated data" is a schema looser than the
validation behind it).

    with serving(build_app(...)) as url:
        report = run(url + "/openapi.json", headers=identity.headers(key, "alice", ttl_s=3600))
        assert problems(report) == {}
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.system.cms.cms_stack import ServerThread

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
ROOT = Path(__file__).resolve().parents[3]
# negative_data_rejection's own statuses (schemathesis 4.x) and 413: a body over the service's
# limit refused before it is read is a rejection too (system.common.service.BodyLimitMiddleware).
NEGATIVE_DATA_REJECTED = ("400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx")
CONFIG = "[checks.negative_data_rejection]\nexpected-statuses = [{}]\n".format(
    ", ".join(f'"{status}"' for status in NEGATIVE_DATA_REJECTED))


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """An ASGI app on 127.0.0.1 (a free port) in a thread, lifespan included; yields its URL."""
    with ServerThread(app) as server:
        yield server.url


def run(schema_url: str, *, headers: dict[str, str] | None = None, max_examples: int = 25, seed: int = 1,
        base_url: str | None = None, extra: tuple[str, ...] = ()) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.json"
        config = Path(tmp) / "schemathesis.toml"
        config.write_text(CONFIG)
        cmd = [SCHEMATHESIS, "--config-file", str(config), "run", schema_url, "--checks", "all", "-n", str(max_examples), "--seed", str(seed),
               "--no-color", "--report", "json", "--report-json-path", str(path), "--max-failures", "1000", *extra]
        if base_url:
            cmd += ["--url", base_url]
        for name, value in (headers or {}).items():
            cmd += ["-H", f"{name}: {value}"]
        env = dict(os.environ, SCHEMATHESIS_HOOKS="tests.system.common.schemathesis_hooks",
                   PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
        if not path.exists():
            raise RuntimeError(f"schemathesis wrote no report (exit {proc.returncode}): {proc.stdout[-2000:]}"
                               f"{proc.stderr[-2000:]}")
        report = json.loads(path.read_text())
        report["output"] = proc.stdout
        keep = os.environ.get("HALAB_SCHEMATHESIS_OUTPUT")  # a file to read the whole story in
        if keep:
            with open(keep, "a") as fh:
                fh.write(proc.stdout)
        return report


def problems(report: dict) -> dict:
    """Every failing check (by code and title, with its operations) and every warning raised."""
    out = {f"{f['code']} {f['title']}": f["operations"] for f in report.get("failures", [])}
    out.update({f"warning {k}": v for k, v in (report.get("warnings") or {}).items() if v})
    if report.get("errors"):
        out["errors"] = report["errors"]
    return out
