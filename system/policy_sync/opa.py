"""OPA's policy API, as policy_sync uses it (synchronous: policy_sync runs in a thread)."""

from __future__ import annotations

import json

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


DATA_PREFIX = "data/"  # a key /policies/data/<id> holds a JSON document, not Rego (Rego ids have no "/")
DATA_ROOT = "policy_data"  # ... which OPA serves as data.policy_data.<id>


def is_data(key_id: str) -> bool:
    return key_id.startswith(DATA_PREFIX)


def canonical(text: str) -> str:
    """A JSON document's one spelling, so etcd's text and OPA's answer compare equal.

    >>> canonical('{"b": 1, "a": [1, 2]}')
    '{"a":[1,2],"b":1}'
    """
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def as_loaded(key_id: str, text: str) -> str:
    """A policy's text as OPA gives it back: a document in its canonical spelling (if it is
    JSON at all), a Rego module as written; what `loaded` keeps and resyncs compare.

    >>> as_loaded("data/acl", '{"b": 1, "a": 2}'), as_loaded("data/bad", "{no"), as_loaded("authz", "package x")
    ('{"a":2,"b":1}', '{no', 'package x')
    """
    if not is_data(key_id):
        return text
    try:
        return canonical(text)
    except ValueError:
        return text


class OpaData:
    """PUT / DELETE / list JSON documents under OPA's `/v1/data/policy_data`: OPA compiles
    nothing for a data write, so its cost does not grow with the policies loaded.

    Ids are the policy prefix's key suffixes, `data/<id>`; `put` takes the document's JSON text.

        opa = OpaData("http://127.0.0.1:8181")
        opa.put("data/routes", '{"rules": []}')
    """

    def __init__(self, url: str, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self._rest = OpaPolicies(url, timeout, client)

    def _path(self, key_id: str) -> str:
        return f"/v1/data/{DATA_ROOT}/{key_id[len(DATA_PREFIX):]}"

    def put(self, key_id: str, text: str) -> None:
        try:
            canonical(text)
        except ValueError as exc:
            raise OpaRejected(f"not JSON: {exc}") from None
        r = self._rest._call("PUT", self._path(key_id), content=text.encode("utf-8"),
                             headers={"Content-Type": "application/json"})
        if r.status_code in (200, 204):
            return
        if 400 <= r.status_code < 500:
            raise OpaRejected(_message(r))
        raise OpaUnavailable(f"HTTP {r.status_code}: {_message(r)}")

    def delete(self, key_id: str) -> None:
        r = self._rest._call("DELETE", self._path(key_id))
        if r.status_code in (200, 204, 404):
            return
        if 400 <= r.status_code < 500:
            raise OpaRejected(_message(r))
        raise OpaUnavailable(f"HTTP {r.status_code}: {_message(r)}")

    def list(self) -> dict[str, str]:
        """Every document OPA holds under the root, as `data/<id>` -> canonical JSON."""
        r = self._rest._call("GET", f"/v1/data/{DATA_ROOT}")
        if r.status_code != 200:
            raise OpaUnavailable(f"HTTP {r.status_code}: {_message(r)}")
        docs = r.json().get("result") or {}
        return {f"{DATA_PREFIX}{k}": canonical(json.dumps(v)) for k, v in docs.items()} if isinstance(docs, dict) else {}

    def ping(self) -> None:
        self._rest.ping()

    def close(self) -> None:
        self._rest.close()


class OpaRouted:
    """REST mode's OPA: Rego modules through `/v1/policies`, documents (`data/<id>`) through
    the Data API, so a policy that reads a document works without bundles too."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.policies = OpaPolicies(url, timeout)
        self.data = OpaData(url, timeout)

    def _for(self, key_id: str) -> OpaPolicies | OpaData:
        return self.data if is_data(key_id) else self.policies

    def put(self, key_id: str, text: str) -> None:
        self._for(key_id).put(key_id, text)

    def delete(self, key_id: str) -> None:
        self._for(key_id).delete(key_id)

    def list(self) -> dict[str, str]:
        return {**self.policies.list(), **self.data.list()}

    def ping(self) -> None:
        self.policies.ping()

    def close(self) -> None:
        self.policies.close()
        self.data.close()
