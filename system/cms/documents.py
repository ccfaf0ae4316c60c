"""Policy documents: a policy's parameters as a JSON object, beside the Rego.

A document goes through the very write protocol of the policies (`PolicyService`, with its
own MongoDB collections and etcd prefix); only the check before the write differs: instead
of OPA's compile, the content must be one JSON object in canonical spelling.

    etcd   /policies/data/<id>   canonical JSON text          (policy_sync -> data.policy_data.<id>)
    mongo  policy_data           the metadata; field `rego` holds that same text
           policy_data_claims    the version claims

    text = canonical_json({"b": 1, "a": [1, 2]})          # '{"a":[1,2],"b":1}'
    await JsonObjectValidator().validate("routes", text)  # DocumentInvalid unless an object
"""

from __future__ import annotations

import json
from typing import Any

from system.cms.stores import RegoInvalid
from system.policy_sync.opa import DATA_PREFIX

DOCUMENT_NOUN = "policy document"


class DocumentInvalid(RegoInvalid):
    """The content is no JSON object (HTTP 400, nothing written). A RegoInvalid so that the
    protocol and the API treat it as they treat a policy OPA refused to compile."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [])


def status_id(document_id: str) -> str:
    """The id policy_sync reports a document under in its /status (its key's suffix).

    >>> status_id("routes")
    'data/routes'
    """
    return DATA_PREFIX + document_id


def canonical_json(value: Any) -> str:
    """The one spelling of a document (policy_sync's `canonical`, minus NaN), so that the same content
    written twice is the same text: "unchanged", no new version.

    >>> canonical_json({"b": 1.5, "a": [1, "é"]})
    '{"a":[1,"é"],"b":1.5}'
    """
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        # JSON may carry lone surrogates (\ud800); etcd, MongoDB and OPA take UTF-8 only.
        text.encode("utf-8")
    except ValueError as exc:  # NaN/Infinity, or a lone surrogate (UnicodeEncodeError)
        raise DocumentInvalid(f"not storable as JSON: {exc}") from None
    except RecursionError:
        raise DocumentInvalid("nested too deeply") from None
    return text


def _kind(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (str, "a string"), (list, "an array"), ((int, float), "a number")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


class JsonObjectValidator:
    """Stands in for OPA's compiler: accepts the canonical text of a JSON object only."""

    async def ping(self) -> None:
        return None

    async def validate(self, document_id: str, text: str) -> None:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise DocumentInvalid(f"policy document {document_id!r} is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise DocumentInvalid(f"policy document {document_id!r} must be a JSON object "
                                  f"(OPA serves it as data.policy_data.{document_id}), not {_kind(value)}")
        # policy_sync compares etcd's text with OPA's answer in this spelling.
        if text != canonical_json(value):
            raise DocumentInvalid(f"policy document {document_id!r} is not in canonical JSON "
                                  f"(sorted keys, no spaces)")
