"""OPA's policy API, as policy_sync uses it (synchronous: policy_sync runs in a thread)."""

from __future__ import annotations

import httpx

from system.common.tls import client_context


class OpaUnavailable(Exception):
    """OPA did not answer; the caller retries."""


class OpaRejected(Exception):
    """OPA refused the module (it does not compile with the others); OPA keeps the old one."""


class OpaPolicies:
    """PUT / DELETE / list OPA's `/v1/policies`.

        opa = OpaPolicies("http://127.0.0.1:8181")
        opa.put("authz", "package halab.authz\\ndefault allow := false\\n")
    """

    def __init__(self, url: str, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout, verify=client_context())

    def _call(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            return self._client.request(method, f"{self.url}{path}", **kw)
        except httpx.HTTPError as exc:
            raise OpaUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def put(self, policy_id: str, rego: str) -> None:
        r = self._call("PUT", f"/v1/policies/{policy_id}", content=rego.encode("utf-8"),
                       headers={"Content-Type": "text/plain"})
        if r.status_code == 200:
            return
        if 400 <= r.status_code < 500:
            raise OpaRejected(_message(r))
        raise OpaUnavailable(f"HTTP {r.status_code}: {_message(r)}")

    def delete(self, policy_id: str) -> None:
        r = self._call("DELETE", f"/v1/policies/{policy_id}")
        if r.status_code in (200, 404):
            return
        if 400 <= r.status_code < 500:
            raise OpaRejected(_message(r))
        raise OpaUnavailable(f"HTTP {r.status_code}: {_message(r)}")

    def list(self) -> dict[str, str]:
        r = self._call("GET", "/v1/policies")
        if r.status_code != 200:
            raise OpaUnavailable(f"HTTP {r.status_code}: {_message(r)}")
        return {p["id"]: p.get("raw", "") for p in r.json().get("result") or []}

    def ping(self) -> None:
        r = self._call("GET", "/health")
        if r.status_code != 200:
            raise OpaUnavailable(f"HTTP {r.status_code}")

    def close(self) -> None:
        self._client.close()


def _message(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:1000]
    parts = [str(body.get("message", ""))]
    for e in body.get("errors") or []:
        loc = e.get("location") or {}
        parts.append(f"{loc.get('file', '')}:{loc.get('row', '')}: {e.get('code')}: {e.get('message')}")
    return "; ".join(p for p in parts if p)[:2000]
