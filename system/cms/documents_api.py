"""The policy documents' routes, `/cms/policy-data`: a policy's parameters as a JSON object,
which policy_sync loads into OPA as `data.policy_data.<id>` (see documents.py).

They answer as the policy routes do (web.py): same errors, Server-Timing (with `validate`
in place of `opa_compile`), `?wait=enforced` (on policy_sync's status id `data/<id>`).

    PUT /cms/policy-data/routes {"data": {"allow": ["/rag"]}, "description": "rag routes"}
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from system.cms.documents import DOCUMENT_NOUN, canonical_json, status_id
from system.cms.policies import POLICY_ID_PATTERN, step_timings
from system.cms.web import ERRORS, WRITE_ERRORS, Deps, RecordOut, RecordSummary, UpdateOut, Utf8, answer, check_id, counted, errors
from system.common.consumer import Consumer

KIND = "document"  # the metrics' series (halab_cms_policy_data_*)
# The pattern is checked by the handlers (400, not FastAPI's 422), and stated here.
DocumentId = Annotated[str, Path(description="policy document id: letters, digits, _ . - (max 128)",
                                 json_schema_extra={"pattern": POLICY_ID_PATTERN})]

documents = APIRouter(prefix="/cms/policy-data", tags=["policy documents"], responses={
    **ERRORS, 400: {"description": "`data` is no JSON object (or not storable: NaN, a lone surrogate), an invalid "
                                   "id, or malformed JSON; nothing was written"},
    404: {"description": "No such policy document"}})


class DocumentIn(BaseModel):
    # `Any`, stated as an object: anything else is refused by the validator with a 400 that
    # says what it was, not by FastAPI's 422.
    data: Any = Field(description="the document: a JSON object, stored in canonical JSON (sorted keys); "
                                  "anything else: 400", json_schema_extra={"type": "object"})
    description: Utf8 = Field("", max_length=4096)
    expected_version: int | None = Field(None, ge=0, description="409 unless the document is at this version "
                                                                 "(0: it must not exist)")


class DocumentOut(RecordOut):
    data: dict[str, Any] | None = Field(None, description="the active content (null when deleted, or when etcd "
                                                          "held no JSON object the reconciler adopted)")
    sha256: str | None = Field(None, description="of the canonical JSON text")


class DocumentSummary(RecordSummary):
    """A document's line in the listing."""


class DocumentList(BaseModel):
    documents: list[DocumentSummary]


def _parsed(text: str | None) -> dict | None:
    # The protocol keeps the content as text (field `rego`, shared with the policies).
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _document_out(doc: dict) -> DocumentOut:
    p = doc.get("pending") or {}
    return DocumentOut(id=doc["_id"], author=doc["author"], description=doc.get("description", ""),
                       version=doc["version"], status=doc["status"], etcd_revision=doc.get("etcd_revision"),
                       data=_parsed(doc.get("rego")), sha256=doc.get("sha256"), updated_at=doc.get("updated_at"),
                       pending_version=p.get("version"), history=doc.get("history") or [])


@documents.get("", summary="List policy documents", response_model=DocumentList)
async def list_documents(deps: Deps, _: Consumer, include_deleted: bool = False) -> DocumentList:
    with errors(DOCUMENT_NOUN):
        docs = await deps.documents.list(include_deleted)
    return DocumentList(documents=[
        DocumentSummary(id=d["_id"], author=d["author"], description=d.get("description", ""), version=d["version"],
                        status=d["status"], etcd_revision=d.get("etcd_revision"), updated_at=d.get("updated_at"))
        for d in docs])


@documents.get("/{document_id}", summary="One policy document, parsed, with its version history",
               response_model=DocumentOut)
async def get_document(document_id: DocumentId, deps: Deps, _: Consumer, include_deleted: bool = False) -> DocumentOut:
    check_id(document_id, DOCUMENT_NOUN)
    with errors(DOCUMENT_NOUN):
        return _document_out(await deps.documents.get(document_id, include_deleted))


@documents.put("/{document_id}", summary="Create or update a policy document (data.policy_data.<id> in OPA)",
               response_model=UpdateOut, status_code=200,
               responses={201: {"model": UpdateOut, "description": "Created"},
                          202: {"model": UpdateOut, "description": "?wait=enforced timed out: written, not yet loaded"},
                          **WRITE_ERRORS})
async def put_document(document_id: DocumentId, body: DocumentIn, deps: Deps, author: Consumer,
                       wait: Annotated[Literal["enforced"] | None,
                                       Query(description="wait until the local OPA loaded it")] = None,
                       ) -> JSONResponse:
    check_id(document_id, DOCUMENT_NOUN)
    started = time.perf_counter()
    step_timings.set({})
    with errors(DOCUMENT_NOUN), counted(deps, "put", KIND):
        text = canonical_json(body.data)
        result = await deps.documents.put(document_id, text, body.description, author, body.expected_version)
    return await answer(deps, result, wait, started, status_id=status_id(document_id), kind=KIND)


@documents.delete("/{document_id}", summary="Delete a policy document (its history is kept)",
                  response_model=UpdateOut,
                  responses={202: {"model": UpdateOut, "description": "?wait=enforced timed out"}, **WRITE_ERRORS})
async def delete_document(document_id: DocumentId, deps: Deps, author: Consumer,
                          expected_version: Annotated[int | None, Query(ge=0)] = None,
                          wait: Annotated[Literal["enforced"] | None, Query()] = None) -> JSONResponse:
    check_id(document_id, DOCUMENT_NOUN)
    started = time.perf_counter()
    step_timings.set({})
    with errors(DOCUMENT_NOUN), counted(deps, "delete", KIND):
        result = await deps.documents.delete(document_id, author, expected_version)
    return await answer(deps, result, wait, started, status_id=status_id(document_id), kind=KIND)
