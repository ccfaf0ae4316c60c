"""The platform's user-facing operations through the VIP, recorded in a Recorder: the one
set of outcome rules, whichever HTTP client sends them (httpx here, Locust's FastHttpUser in
loadtests/).

Completions follow harness/history.py: `ok` it happened; `fail` it certainly did not (a
refusal, a 4xx, a connection never made, or any error of a read, which changes nothing);
`info` unknown (a timeout, or a 5xx other than 503 on a write, which may have been applied:
the CMS answers 503 only when nothing was left active). Steps are the services' own
reports: rag's `timings_ms`, the CMS's and the gateway's Server-Timing.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from harness.clients import server_timing
from harness.clients.recorder import Recorder
from harness.history import Op
from harness.scenario import POLICY_UPDATE, RAG_INGEST, RAG_QUERY

# The header HAProxy sets on every answer (harness/topology/components/lb.py).
GATEWAY_HEADER = "X-Halab-Gateway"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Call:
    """One operation as HTTP: what is sent, and what its invoke records."""

    f: str
    method: str
    path: str
    body: dict | None
    value: dict
    write: bool


def rag_query(user: str, question: str) -> Call:
    return Call(RAG_QUERY, "POST", "/rag/query", {"question": question}, {"user": user, "question": question}, False)


def policy_update(policy_id: str, rego: str, description: str = "halab load") -> Call:
    return Call(POLICY_UPDATE, "PUT", f"/cms/policies/{policy_id}", {"rego": rego, "description": description},
                {"policy": policy_id, "sha256": _sha(rego)}, True)


def read(f: str, path: str) -> Call:
    """A GET that is not one of the flows (an admin listing or reading policies)."""
    return Call(f, "GET", path, None, {"path": path}, False)


def rag_ingest(doc_id: str, title: str, text: str, groups: tuple[str, ...]) -> Call:
    body = {"doc_id": doc_id, "title": title, "text": text, "acl_groups": list(groups)}
    return Call(RAG_INGEST, "POST", "/rag/documents", body, {"doc": doc_id, "sha256": _sha(text)}, True)


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


def broken(rec: Recorder, invoked: Op, call: Call, error: str) -> Op:
    """A request that got no HTTP answer. `error`: "timeout", "connect" (never connected),
    or the exception's name (the connection broke mid-request: the server may have acted).

    >>> rec = Recorder(); call = rag_query("alice", "?")
    >>> [broken(rec, rec.invoke(1, call.f), call, e).type for e in ("timeout", "connect", "RemoteProtocolError")]
    ['info', 'fail', 'fail']
    >>> broken(rec, rec.invoke(2, "policy_update"), policy_update("p", "x"), "ConnectionResetError").type
    'info'
    """
    if error == "timeout":
        return rec.complete(invoked, "info", error=error)
    if error == "connect":
        return rec.complete(invoked, "fail", error=error)
    return rec.complete(invoked, "info" if call.write else "fail", error=error)


def answered(rec: Recorder, invoked: Op, call: Call, status: int, header: Callable[[str], str | None],
             body: Callable[[], Any], site_of: dict[str, str]) -> Op:
    """Complete `invoked` from an HTTP answer: `header(name)` and `body()` (parsed JSON) read it."""
    site = site_of.get(header(GATEWAY_HEADER) or "")
    result = outcome(status, write=call.write, said=_said(body) if call.write and status == 503 else None)
    if result.type != "ok":
        return rec.complete(invoked, result.type, site=site, error=result.error)
    steps = server_timing.parse(header("Server-Timing"))
    try:
        answer = body()
    except ValueError:
        return rec.complete(invoked, "info" if call.write else "fail", site=site, error="bad-json")
    if call.f == POLICY_UPDATE:
        value = {"policy": answer.get("id"), "version": answer.get("version"), "revision": answer.get("etcd_revision"),
                 "sha256": invoked.value["sha256"]}
    elif call.f == RAG_INGEST:
        steps.update(_timings(answer))
        value = {"doc": answer.get("doc_id"), "chunks": answer.get("chunks"), "sha256": invoked.value["sha256"]}
    elif call.f == RAG_QUERY:
        steps.update(_timings(answer))
        value = {"sources": sorted({s["doc_id"] for s in answer.get("sources", ())})}
        if answer.get("degraded"):  # answered from the sources alone: the LLM was unavailable
            value["degraded"] = answer["degraded"].get("reason")
    else:  # a read the model does not predict (a Locust admin's list or read)
        value = None
    return rec.complete(invoked, "ok", value=value, site=site, steps=steps)


def _timings(answer: dict) -> dict[str, float]:
    return {k: v / 1000 for k, v in answer.get("timings_ms", {}).items() if k != "total"}


def _said(body: Callable[[], Any]) -> str | None:
    try:
        detail = body().get("detail")
    except (ValueError, AttributeError):
        return None
    return detail.get("outcome") if isinstance(detail, dict) else None


class LabClient:
    """The calls over httpx. `keys`: consumer name -> API key; `site_of`: gateway name -> site."""

    def __init__(self, vip_url: str, keys: dict[str, str], site_of: dict[str, str], recorder: Recorder,
                 timeout_s: float = 10.0, verify: ssl.SSLContext | bool = True) -> None:
        self.keys = keys
        self.site_of = site_of
        self.recorder = recorder
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        self.http = httpx.Client(base_url=vip_url, timeout=timeout_s, limits=limits, trust_env=False, verify=verify)

    def close(self) -> None:
        self.http.close()

    def send(self, process: int | str, consumer: str, call: Call, at: float | None = None) -> Op:
        """Invoke at `at` (the intended start), send, complete by the rules above."""
        rec = self.recorder
        invoked = rec.invoke(process, call.f, call.value, at=at)
        try:
            resp = self.http.request(call.method, call.path, json=call.body, headers={"apikey": self.keys[consumer]})
        except httpx.TimeoutException:
            return broken(rec, invoked, call, "timeout")
        except httpx.ConnectError:
            return broken(rec, invoked, call, "connect")
        except httpx.HTTPError as exc:
            return broken(rec, invoked, call, type(exc).__name__)
        return answered(rec, invoked, call, resp.status_code, resp.headers.get, resp.json, self.site_of)
