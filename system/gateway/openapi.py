"""The hand-written OpenAPI document for the gateway's own endpoints (served at /openapi.json).

Routed paths come from etcd and are documented by the services behind them (rag, cms); the
ai-proxy hairpin `/llm/chat` is documented here because the gateway itself answers it.
"""

from __future__ import annotations

from . import schema

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
            # The gateway's own checks (ai-proxy) and then the LLM's (this lab's LLM, like OpenAI,
            # refuses a temperature outside 0..2 or more than one choice): what passes both.
            "Message": {"type": "object", "required": ["role", "content"], "properties": {
                "role": {"type": "string", "enum": ["system", "user", "assistant", "tool", "developer"]},
                "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}}},
            "ChatRequest": {"type": "object", "required": ["messages"], "properties": {
                "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Message"}},
                "model": {"type": "string", "description": "replaced by the route's model (ai-proxy options)"},
                "stream": {"type": "boolean"},
                "stream_options": {"type": "object", "nullable": True,
                                   "properties": {"include_usage": {"type": "boolean"}}},
                "max_tokens": {"type": "integer", "minimum": 1},
                "max_completion_tokens": {"type": "integer", "minimum": 1, "nullable": True},
                "n": {"type": "integer", "minimum": 1, "maximum": 1},
                "seed": {"type": "integer", "nullable": True},
                "temperature": {"type": "number", "minimum": 0, "maximum": 2}}},
            "OpenAIError": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["message"], "properties": {
                    "message": {"type": "string"}, "type": {"type": "string"}}}}},
        },
    },
    "paths": {
        "/healthz": {"get": {"summary": "The process is alive", "operationId": "healthz",
                             "responses": {"200": _resp("alive", {"type": "object", "properties": {
                                 "status": {"type": "string"}, "service": {"type": "string"}}})}}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics under APISIX's prometheus plugin names (apisix_http_status, "
                       "apisix_http_latency, apisix_bandwidth, apisix_etcd_reachable), then the key cache's",
            "operationId": "metrics",
            "responses": {"200": {"description": "Prometheus text format 0.0.4", "headers": _RID,
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/apisix/prometheus/metrics": {"get": {
            "summary": "The same metrics at the path APISIX's prometheus plugin serves them",
            "operationId": "apisixPrometheusMetrics",
            "responses": {"200": {"description": "Prometheus text format 0.0.4", "headers": _RID,
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
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
            "responses": {"200": {"description": "the LLM's answer (JSON, or an event stream with stream=true)",
                                  "headers": _TIMED, "content": {"application/json": {"schema": {"type": "object"}},
                                                                 # each event: `data: <chunk JSON>`, then `data: [DONE]`
                                                                 "text/event-stream": {"schema": {
                                                                     "type": "object", "required": ["data"],
                                                                     "properties": {"data": {"type": "string"}}}}}},
                          "400": _routed("malformed chat request: the gateway's answer, or the LLM's (OpenAI's shape)",
                                         {"anyOf": [{"$ref": "#/components/schemas/Error"},
                                                    {"$ref": "#/components/schemas/OpenAIError"}]}),
                          "401": _routed("missing or unknown apikey", {"$ref": "#/components/schemas/Error"}),
                          "403": {"description": "denied by policy: the policy's reason as the body, as APISIX sends it "
                                                 "(text; JSON if the reason is an object)", "headers": _TIMED,
                                  "content": {"text/plain": {"schema": {"type": "string"}}}},
                          "413": _routed("body too large", {"$ref": "#/components/schemas/Error"}),
                          "502": _routed("LLM unreachable", {"$ref": "#/components/schemas/Error"}),
                          "503": _routed("LLM key or policy engine unavailable", {"$ref": "#/components/schemas/Error"}),
                          "504": _routed("LLM timed out", {"$ref": "#/components/schemas/Error"})}}},
    },
}
# The OpenAI SDKs' paths: the same route as /llm/chat, and the LLM's model list.
OPENAPI["paths"]["/llm/v1/chat/completions"] = {"post": {**OPENAPI["paths"]["/llm/chat"]["post"],
                                                         "operationId": "chatCompletions"}}
OPENAPI["paths"]["/llm/v1/models"] = {"get": {
    "summary": "The LLM's models (OpenAI's models.list), with the gateway's key", "operationId": "listModels",
    "security": [{"apikey": []}],
    "responses": {"200": _routed("the model list", {"type": "object", "required": ["data"]}),
                  "401": _routed("missing or unknown apikey", {"$ref": "#/components/schemas/Error"}),
                  "403": OPENAPI["paths"]["/llm/chat"]["post"]["responses"]["403"],
                  "503": _routed("LLM key or policy engine unavailable", {"$ref": "#/components/schemas/Error"})}}}


def _follow(op: str, ident: str) -> dict:
    """Links from a write to reading, patching and deleting what it wrote."""
    return {f"{verb.title()}{op}": {"operationId": f"{verb}{op}", "parameters": {"ident": ident}}
            for verb in ("get", "patch", "delete")}


def _admin_ops() -> dict:
    """One path pair per resource, each with its body's schema (schema.py, what the API checks),
    and links from a write to reading, patching and deleting what it wrote."""
    obj = {"type": "object", "required": ["key", "value"], "properties": {
        "key": {"type": "string"}, "value": {"type": "object"},
        "createdIndex": {"type": "integer"}, "modifiedIndex": {"type": "integer"}}}
    err = {"type": "object", "required": ["error_msg"], "properties": {"error_msg": {"type": "string"}}}
    common = {"401": {"description": "no or a wrong X-API-KEY", "content": {"application/json": {"schema": err}}},
              "503": {"description": "etcd unavailable: nothing written", "content": {"application/json": {"schema": err}}}}
    bad = {"400": {"description": "invalid configuration (as the gateways would refuse it)",
                   "content": {"application/json": {"schema": err}}}}
    missing = {"404": {"description": "Key not found"}}
    sec = [{"adminKey": []}]
    one = {"content": {"application/json": {"schema": obj}}}
    paths: dict = {}
    for resource, body_schema in schema.RESOURCES.items():
        name = resource.rstrip("s").replace("_", " ")
        op = resource.title().replace("_", "")
        # Secrets live under their manager (secrets/vault/1); the others by id (consumers: username).
        base = f"/apisix/admin/{resource}"
        item = f"{base}/vault/{{ident}}" if resource == "secrets" else f"{base}/{{ident}}"
        ident = {"name": "ident", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": schema.ID_PATTERN if resource != "consumers"
                            else schema.CONSUMER["properties"]["username"]["pattern"]}}
        links = _follow(op, "$request.path.ident")  # a PUT to the item
        created_links = _follow(op, "$response.body#/value/id")  # a POST: the id the server made
        body = {"required": True, "content": {"application/json": {"schema": body_schema,
                                                                    "example": schema.EXAMPLES[resource]}}}
        # A route needs what it names to exist: the write of an upstream or plugin config links
        # to a route naming it, so the fuzzer also reaches routes that refer to something.
        if resource in ("upstreams", "plugin_configs"):
            field = "upstream_id" if resource == "upstreams" else "plugin_config_id"
            named = {"operationId": "createRoutes",
                     "requestBody": {"uri": "/linked", field: "$response.body#/value/id",
                                     **({} if resource == "upstreams" else {"upstream": {"nodes": {"rag:8000": 1}}})}}
            links = {**links, "CreateRouteNamingIt": named}
            created_links = {**created_links, "CreateRouteNamingIt": named}
        dangling = {"404": {"description": "the upstream_id or plugin_config_id names nothing",
                            "content": {"application/json": {"schema": err}}},
                    "409": {"description": "no upstream, and the plugin config it names has no ai-proxy",
                            "content": {"application/json": {"schema": err}}}} if resource == "routes" else {}
        collection: dict = {"get": {"summary": f"List {resource}", "operationId": f"list{op}", "security": sec,
                                    "responses": {"200": {"description": "total and list", "content": {
                                        "application/json": {"schema": {
                                            "type": "object", "required": ["total", "list"],
                                            "properties": {"total": {"type": "integer"},
                                                           "list": {"type": "array", "items": obj}}}}}},
                                                  **common}}}
        if resource != "secrets":
            named = "username" if resource == "consumers" else "id"
            collection["put"] = {"summary": f"Create or replace a {name} named by `{named}` in the body",
                                 "operationId": f"put{op}ByBody", "security": sec,
                                 "requestBody": {"required": True, "content": {"application/json": {
                                     "schema": {"allOf": [body_schema, {"required": [named]}]},
                                     "example": {**schema.EXAMPLES[resource], named: "example"}}}},
                                 "responses": {"200": {"description": "replaced", **one},
                                               "201": {"description": "created", **one},
                                               **bad, **dangling, **common}}
        if resource not in ("consumers", "secrets"):
            collection["post"] = {"summary": f"Create a {name} with a new id", "operationId": f"create{op}",
                                  "security": sec, "requestBody": body,
                                  "responses": {"201": {"description": "created", **one, "links": created_links},
                                                **bad, **dangling, **common}}
        paths[base] = collection
        paths[item] = {
            "parameters": [ident],
            "get": {"summary": f"Read a {name}", "operationId": f"get{op}", "security": sec,
                    "responses": {"200": {"description": "the object", **one}, **missing, **common}},
            "put": {"summary": f"Create or replace a {name}", "operationId": f"put{op}", "security": sec,
                    "requestBody": body,
                    "responses": {"200": {"description": "replaced", **one, "links": links},
                                  "201": {"description": "created", **one, "links": links},
                                  **bad, **dangling, **common}},
            "patch": {"summary": f"Merge into a {name} (objects merged, arrays replaced, null removes); "
                                 "the result must be valid", "operationId": f"patch{op}", "security": sec,
                      "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                      "responses": {"200": {"description": "merged", **one}, **bad, **missing, **common}},
            "delete": {"summary": f"Delete a {name}", "operationId": f"delete{op}", "security": sec, "responses": {
                "200": {"description": "deleted", "content": {"application/json": {"schema": {"type": "object"}}}},
                **missing, **common}}}
    return paths


ADMIN_OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "halab gateway Admin API (APISIX v3 shapes)", "version": "0.1.0"},
    "components": {"securitySchemes": {"adminKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"}}},
    "paths": {
        "/healthz": {"get": {"operationId": "healthz", "responses": {"200": {"description": "alive"}}}},
        "/readyz": {"get": {"operationId": "readyz", "responses": {"200": {"description": "etcd answers"},
                                                                   "503": {"description": "etcd down"}}}},
        "/openapi.json": {"get": {"operationId": "openapi", "responses": {"200": {"description": "this document"}}}},
        **_admin_ops(),
    },
}
