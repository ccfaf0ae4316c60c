"""The hand-written OpenAPI document for the gateway's own endpoints (served at /openapi.json).

Routed paths come from etcd and are documented by the services behind them (rag, cms); the
ai-proxy hairpin `/llm/chat` is documented here because the gateway itself answers it.
"""

from __future__ import annotations

_ERROR = {"type": "object", "properties": {"message": {"type": "string"}, "request_id": {"type": "string"}},
          "required": ["message"]}
_RID = {"X-Request-Id": {"description": "The caller's request id, or a new one", "schema": {"type": "string"}}}


def _resp(description: str, schema: dict | None = None) -> dict:
    out: dict = {"description": description, "headers": _RID}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


OPENAPI: dict = {
    "openapi": "3.0.3",
    "info": {"title": "halab gateway (APISIX role)", "version": "0.1.0",
             "description": "Own endpoints of the gateway. Routes under /rag, /cms and /llm/chat come from etcd."},
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
            "responses": {"200": _resp("the LLM's answer (JSON, or an event stream with stream=true)", {"type": "object"}),
                          "400": _resp("malformed chat request", {"$ref": "#/components/schemas/Error"}),
                          "401": _resp("missing or unknown apikey", {"$ref": "#/components/schemas/Error"}),
                          "403": _resp("denied by policy", {"$ref": "#/components/schemas/Error"}),
                          "413": _resp("body too large", {"$ref": "#/components/schemas/Error"}),
                          "502": _resp("LLM unreachable", {"$ref": "#/components/schemas/Error"}),
                          "503": _resp("LLM key or policy engine unavailable", {"$ref": "#/components/schemas/Error"}),
                          "504": _resp("LLM timed out", {"$ref": "#/components/schemas/Error"})}}},
    },
}
