"""The hand-written OpenAPI document for the gateway's own endpoints (served at /openapi.json).

Routed paths come from etcd and are documented by the services behind them (rag, cms); the
ai-proxy hairpin `/llm/chat` is documented here because the gateway itself answers it.
"""

from __future__ import annotations

_ERROR = {"type": "object", "properties": {"message": {"type": "string"}, "request_id": {"type": "string"}},
          "required": ["message"]}
_RID = {"X-Request-Id": {"description": "The caller's request id, or a new one", "schema": {"type": "string"}}}


# Routed answers (here /llm/chat; in etcd's routes alike) carry it, the own endpoints do not.
_TIMED = {**_RID, "Server-Timing": {
    "description": "W3C Server-Timing, milliseconds: the upstream's own entries if it sent any, then "
                   "`gateway;dur=` (the gateway's own time up to sending the headers, waits on OPA and the "
                   "upstream excluded), `opa;dur=` (the OPA round trip, if the opa plugin asked OPA) and "
                   "`upstream;dur=` (request sent to response headers received, summed over retried nodes, "
                   "if the request was forwarded). Also on the gateway's own errors, with the time spent so far.",
    "schema": {"type": "string"},
    "example": "mongo_read;dur=1.20, gateway;dur=0.31, opa;dur=0.82, upstream;dur=2.05"}}


def _resp(description: str, schema: dict | None = None, headers: dict = _RID) -> dict:
    out: dict = {"description": description, "headers": headers}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


def _routed(description: str, schema: dict | None = None) -> dict:
    return _resp(description, schema, _TIMED)


OPENAPI: dict = {
    "openapi": "3.0.3",
    "info": {"title": "halab gateway (APISIX role)", "version": "0.1.0",
             "description": "Own endpoints of the gateway. Routes under /rag, /cms and /llm/chat come from etcd; "
                            "every answer to a routed request carries Server-Timing (gateway, opa, upstream)."},
    "components": {
        "securitySchemes": {"apikey": {"type": "apiKey", "in": "header", "name": "apikey"}},
        "schemas": {
            "Error": _ERROR,
            "Message": {"type": "object", "required": ["role", "content"], "properties": {
                "role": {"type": "string", "enum": ["system", "user", "assistant", "tool", "developer"]},
                "content": {"type": "string"}}},
            "ChatRequest": {"type": "object", "required": ["messages"], "properties": {
                "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Message"}},
                "model": {"type": "string"},
                "stream": {"type": "boolean"},
                "max_tokens": {"type": "integer", "minimum": 1},
                "temperature": {"type": "number"}}},
        },
    },
    "paths": {
        "/healthz": {"get": {"summary": "The process is alive", "operationId": "healthz",
                             "responses": {"200": _resp("alive", {"type": "object", "properties": {
                                 "status": {"type": "string"}, "service": {"type": "string"}}})}}},
        "/readyz": {"get": {"summary": "A config has been loaded from etcd", "operationId": "readyz",
                            "responses": {"200": _resp("ready", {"type": "object"}),
                                          "503": _resp("no config loaded yet", {"type": "object"})}}},
        "/gateway/status": {"get": {"summary": "Config revision, routes, etcd and secret-store state",
                                    "operationId": "status",
                                    "responses": {"200": _resp("status", {"type": "object", "required": ["revision", "routes"],
                                                                          "properties": {"revision": {"type": "integer"},
                                                                                         "routes": {"type": "array", "items": {"type": "string"}}}})}}},
        "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                  "responses": {"200": _resp("the OpenAPI document", {"type": "object"})}}},
        "/llm/chat": {"post": {
            "summary": "OpenAI chat completion through ai-proxy (the hairpin)", "operationId": "llmChat",
            "security": [{"apikey": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatRequest"}}}},
            "responses": {"200": _routed("the LLM's answer (JSON, or an event stream with stream=true)", {"type": "object"}),
                          "400": _routed("malformed chat request", {"$ref": "#/components/schemas/Error"}),
                          "401": _routed("missing or unknown apikey", {"$ref": "#/components/schemas/Error"}),
                          "403": _routed("denied by policy", {"$ref": "#/components/schemas/Error"}),
                          "413": _routed("body too large", {"$ref": "#/components/schemas/Error"}),
                          "502": _routed("LLM unreachable", {"$ref": "#/components/schemas/Error"}),
                          "503": _routed("LLM key or policy engine unavailable", {"$ref": "#/components/schemas/Error"}),
                          "504": _routed("LLM timed out", {"$ref": "#/components/schemas/Error"})}}},
    },
}
