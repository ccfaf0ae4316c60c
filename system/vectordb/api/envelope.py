"""Qdrant's envelope around every answer and error, and reading a request's JSON body and flags.

    ok({"exists": True}, t0)    # -> {"result": {"exists": true}, "status": "ok", "time": 0.000012}
    error_response(NotFound("Collection `docs` doesn't exist!"))   # 404 {"status": {"error": ...}}
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from system.vectordb import jsonfast
from system.vectordb.errors import ApiError, BadInput


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return jsonfast.dumps(content)


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = {"type": "object", "required": ["status", "time"],
          "properties": {"status": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                         "time": {"type": "number"}}}
# What any route of Qdrant's API may answer, in Qdrant's error shape (413 is the service's own).
ERRORS = {
    400: _json("Wrong input: the body, a parameter, or a vector that does not fit the collection", _ERROR),
    401: _json("The node has an API key and the request did not present it", _ERROR),
    404: _json("No such collection, point or route", _ERROR),
    409: _json("The collection already exists", _ERROR),
    500: _json("Service internal error", _ERROR),
    503: _json("Too few peers acknowledged the write for its consistency factor", _ERROR),
}
RESPONSES = {200: _json("Qdrant's envelope around the result", {
    "type": "object", "required": ["result", "status", "time"],
    "properties": {"result": {}, "status": {"const": "ok"}, "time": {"type": "number"}}}), **ERRORS}


def ok(result: Any, t0: float) -> JSONResponse:
    return FastJSONResponse({"result": result, "status": "ok", "time": round(time.perf_counter() - t0, 6)})


def error_response(exc: ApiError) -> JSONResponse:
    allow = getattr(exc, "allow", None)  # errors.MethodNotAllowed
    return JSONResponse({"status": {"error": exc.text()}, "time": 0.0}, status_code=exc.status,
                        headers={"Allow": allow} if allow else None)


async def body_of(request: Request, required: bool = True) -> dict:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise BadInput("Json deserialize error: EOF while parsing a value")
        return {}
    try:
        data = jsonfast.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadInput(f"Json deserialize error: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise BadInput("Json deserialize error: expected an object")
    return data


def flag(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise BadInput(f"Query deserialize error: {name} must be true or false")
