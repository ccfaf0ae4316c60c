"""The platform's two user-facing operations through the VIP, recorded in a Recorder.

Completions follow harness/history.py: `ok` it happened; `fail` it certainly did not (a
refusal, a 4xx, a connection never made, or any error of a read, which changes nothing);
`info` unknown (a timeout, or a 5xx other than 503 on a write, which may have been applied:
the CMS answers 503 only when nothing was left active). Steps are the services' own
reports: rag's `timings_ms`, the CMS's and the gateway's Server-Timing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx

from harness.clients import server_timing
from harness.clients.recorder import Recorder
from harness.history import Op
from harness.scenario import POLICY_UPDATE, RAG_QUERY

# The header HAProxy sets on every answer (harness/topology/components/lb.py).
GATEWAY_HEADER = "X-Halab-Gateway"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    type: str
    error: str | None = None


def outcome(status: int, *, write: bool, said: str | None = None) -> Outcome:
    """How an HTTP status completes an operation. `said`: the CMS's own `outcome` of a failed
    write ("not applied", "unknown", "committed"); a 503 is `fail` only when it says nothing
    was applied.

    >>> outcome(200, write=True), outcome(409, write=True).error, outcome(502, write=True).type
    (Outcome(type='ok', error=None), 'http-409', 'info')
    >>> outcome(502, write=False).type, outcome(503, write=True).type, outcome(504, write=False).type
    ('fail', 'fail', 'info')
    >>> outcome(503, write=True, said="unknown"), outcome(503, write=True, said="committed").type
    (Outcome(type='info', error='http-503-unknown'), 'info')
    """
    if 200 <= status < 300:
        return Outcome("ok")
    error = f"http-{status}"
    if write and status == 503 and said not in (None, "not applied"):
        return Outcome("info", f"{error}-{said}")
    if status == 504 or (write and status >= 500 and status != 503):
        return Outcome("info", error)
    return Outcome("fail", error)


def _said(resp: httpx.Response) -> str | None:
    try:
        detail = resp.json().get("detail")
    except ValueError:
        return None
    return detail.get("outcome") if isinstance(detail, dict) else None


class LabClient:
    """`keys`: consumer name -> API key; `site_of`: gateway name -> site (for the op's site)."""

    def __init__(self, vip_url: str, keys: dict[str, str], site_of: dict[str, str], recorder: Recorder,
                 timeout_s: float = 10.0) -> None:
        self.keys = keys
        self.site_of = site_of
        self.recorder = recorder
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        self.http = httpx.Client(base_url=vip_url, timeout=timeout_s, limits=limits, trust_env=False)

    def close(self) -> None:
        self.http.close()

    def rag_query(self, process: int | str, user: str, question: str, at: float | None = None) -> Op:
        invoked = self.recorder.invoke(process, RAG_QUERY, {"user": user, "question": question}, at=at)
        return self._call(invoked, "POST", "/rag/query", user, {"question": question}, write=False)

    def policy_update(self, process: int | str, admin: str, policy_id: str, rego: str, at: float | None = None) -> Op:
        invoked = self.recorder.invoke(process, POLICY_UPDATE, {"policy": policy_id, "sha256": _sha(rego)}, at=at)
        return self._call(invoked, "PUT", f"/cms/policies/{policy_id}", admin,
                          {"rego": rego, "description": "halab measure"}, write=True)

    def _call(self, invoked: Op, method: str, path: str, consumer: str, body: dict, *, write: bool) -> Op:
        rec = self.recorder
        try:
            resp = self.http.request(method, path, json=body, headers={"apikey": self.keys[consumer]})
        except httpx.TimeoutException:
            return rec.complete(invoked, "info", error="timeout")
        except httpx.ConnectError:
            return rec.complete(invoked, "fail", error="connect")
        except httpx.HTTPError as exc:  # the connection broke mid-request: the server may have acted
            return rec.complete(invoked, "info" if write else "fail", error=type(exc).__name__)
        site = self.site_of.get(resp.headers.get(GATEWAY_HEADER, ""))
        result = outcome(resp.status_code, write=write, said=_said(resp) if write else None)
        if result.type != "ok":
            return rec.complete(invoked, result.type, site=site, error=result.error)
        steps = server_timing.parse(resp.headers.get("Server-Timing"))
        answer = resp.json()
        if write:
            value = {"policy": answer.get("id"), "version": answer.get("version"), "revision": answer.get("etcd_revision"),
                     "sha256": invoked.value["sha256"]}
        else:
            steps.update({k: v / 1000 for k, v in answer.get("timings_ms", {}).items() if k != "total"})
            value = {"sources": sorted({s["doc_id"] for s in answer.get("sources", ())})}
            if answer.get("degraded"):  # answered from the sources alone: the LLM was unavailable
                value["degraded"] = answer["degraded"].get("reason")
        return rec.complete(invoked, "ok", value=value, site=site, steps=steps)
