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


def ok(result: Any, t0: float) -> JSONResponse:
    return FastJSONResponse({"result": result, "status": "ok", "time": round(time.perf_counter() - t0, 6)})


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse({"status": {"error": exc.text()}, "time": 0.0}, status_code=exc.status)


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
