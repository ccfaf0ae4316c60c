"""OpenAPI pieces for routes that read their body themselves (to answer in their own error
shape) but must still document it: the pydantic model's schema as the request body.

    @router.post("/chat/completions", openapi_extra=json_body(ChatRequest))

The model's nested definitions are lifted into `components.schemas` by `lift_definitions`,
which create_app runs on the generated document.
"""

from __future__ import annotations

from pydantic import BaseModel

_DEFS = "x-halab-definitions"


def json_body(model: type[BaseModel], description: str = "", required: bool = True) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    body = {"required": required, "content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    return {"requestBody": body, _DEFS: defs}


def lift_definitions(document: dict) -> dict:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for operations in document.get("paths", {}).values():
        for op in operations.values():
            if isinstance(op, dict):
                schemas.update(op.pop(_DEFS, {}))
    return document
