"""What the Admin API accepts, as JSON Schema (APISIX keeps the same in schema_def.lua and in
each plugin's `schema`). One source for two uses: the Admin API validates every body with it
before the data plane's parsers see it, and its OpenAPI document publishes it.

A plugin or a field the gateway does not implement is refused (400) rather than stored and
ignored. Written in the subset that OpenAPI 3.0 and JSON Schema draft 7 read alike.

    >>> problem("routes", {"uri": "/x", "plugins": {"key-auth": {}}, "upstream_id": 1}) is None
    True
    >>> problem("routes", {"uri": "/x"})
    'route has neither an upstream nor ai-proxy'
    >>> problem("routes", {"uri": "x"})
    'property "uri" validation failed: \\'x\\' does not match \\'^/\\''
"""

from __future__ import annotations

import jsonschema

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
_ID = {"anyOf": [{"type": "string", "pattern": ID_PATTERN}, {"type": "integer", "minimum": 1}]}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_COMMON = {"id": _ID, "name": {"type": "string", "maxLength": 100}, "desc": {"type": "string", "maxLength": 256},
           "labels": _STRINGS}
_META = {"type": "object", "properties": {"disable": {"type": "boolean"}}}


def _plugin(properties: dict, required: tuple[str, ...] = (), **extra) -> dict:
    out = {"type": "object", "additionalProperties": False, "properties": {**properties, "_meta": _META}, **extra}
    if required:
        out["required"] = list(required)
    return out


# scheme://host[:port][/path], the host and path ASCII (what the HTTP client can dial)
_PORT = r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
_URL = {"type": "string", "pattern": rf"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?{_PORT}(/[!-~]*)?$"}
PLUGINS = {
    "key-auth": _plugin({"header": {"type": "string", "minLength": 1}, "query": {"type": "string"},
                         "hide_credentials": {"type": "boolean"}}),
    "opa": _plugin({"host": _URL, "policy": {"type": "string", "minLength": 1},
                    "timeout": {"type": "integer", "minimum": 1, "maximum": 60000},
                    "with_route": {"type": "boolean"}, "with_consumer": {"type": "boolean"},
                    "send_headers_upstream": {"type": "array", "items": {"type": "string"}}},
                   required=("host", "policy")),
    "proxy-rewrite": _plugin({
        "uri": {"type": "string", "pattern": "^/"},
        # [pattern, replacement]; the replacement's $1 is the pattern's first group
        "regex_uri": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "string", "format": "regex"}},
        "headers": {"type": "object", "additionalProperties": False, "properties": {"set": _STRINGS}}}),
    "ai-proxy": _plugin({
        "provider": {"type": "string", "enum": ["openai", "openai-compatible"]},
        "auth": {"type": "object", "additionalProperties": False,
                 "properties": {"header": _STRINGS, "query": _STRINGS}},
        "options": {"type": "object"},
        "override": {"type": "object", "additionalProperties": False, "required": ["endpoint"],
                     "properties": {"endpoint": _URL}},
        "timeout": {"type": "integer", "minimum": 1, "maximum": 600000}},
        # openai-compatible has no endpoint of its own: override.endpoint names it
        anyOf=[{"properties": {"provider": {"enum": ["openai"]}}}, {"required": ["override"]}]),
}
_CONSUMER_PLUGINS = {"key-auth": _plugin({"key": {"type": "string", "minLength": 1}}, required=("key",))}


def _plugins(schemas: dict) -> dict:
    return {"type": "object", "additionalProperties": False, "properties": schemas}


_NODES_BY_ADDRESS = {"type": "object", "minProperties": 1, "additionalProperties": {"type": "integer", "minimum": 0}}
_NODE = {"type": "object", "required": ["host"], "properties": {
    "host": {"type": "string", "minLength": 1}, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "weight": {"type": "integer", "minimum": 0}}}
_TIMEOUT = {"type": "number", "minimum": 0.001, "maximum": 3600}
UPSTREAM = {"type": "object", "required": ["nodes"], "properties": {
    **_COMMON,
    "type": {"type": "string", "enum": ["roundrobin"]},
    "nodes": {"anyOf": [_NODES_BY_ADDRESS, {"type": "array", "minItems": 1, "items": _NODE}]},
    "scheme": {"type": "string", "enum": ["http", "https"]},
    "retries": {"type": "integer", "minimum": 0, "maximum": 100},
    "timeout": {"type": "object", "additionalProperties": False,
                "properties": {"connect": _TIMEOUT, "send": _TIMEOUT, "read": _TIMEOUT}},
    "pass_host": {"type": "string", "enum": ["pass", "node"]}}}
_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"]
_PATH = {"type": "string", "pattern": "^/"}
# What a route must have besides well-formed fields, each with the words its absence gets.
_ROUTE_NEEDS = (
    ({"anyOf": [{"required": ["uri"]}, {"required": ["uris"]}]}, 'property "uri" or "uris" is required'),
    # somewhere to send the request: an upstream, or ai-proxy (its own, or its plugin config's)
    ({"anyOf": [{"required": ["upstream"]}, {"required": ["upstream_id"]}, {"required": ["plugin_config_id"]},
                {"required": ["plugins"], "properties": {"plugins": {"required": ["ai-proxy"], "properties": {
                    "ai-proxy": {"not": {"required": ["_meta"], "properties": {"_meta": {
                        "required": ["disable"], "properties": {"disable": {"enum": [True]}}}}}}}}}}]},
     "route has neither an upstream nor ai-proxy"),
)
ROUTE = {"type": "object", "allOf": [need for need, _ in _ROUTE_NEEDS], "properties": {
    **_COMMON,
    "uri": _PATH, "uris": {"type": "array", "minItems": 1, "items": _PATH},
    "methods": {"type": "array", "items": {"type": "string", "enum": _METHODS}},
    "priority": {"type": "integer"},
    "upstream": UPSTREAM, "upstream_id": _ID, "plugin_config_id": _ID,
    "plugins": _plugins(PLUGINS),
    "status": {"type": "integer", "enum": [0, 1]}}}
CONSUMER = {"type": "object", "properties": {
    "username": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"},
    "desc": _COMMON["desc"], "labels": _STRINGS,
    "groups": {"type": "array", "items": {"type": "string"}}, "role": {"type": "string"},
    "plugins": _plugins(_CONSUMER_PLUGINS)}}
PLUGIN_CONFIG = {"type": "object", "required": ["plugins"], "properties": {**_COMMON, "plugins": _plugins(PLUGINS)}}
SECRET = {"type": "object", "required": ["prefix"], "properties": {
    "uri": _URL, "prefix": {"type": "string", "minLength": 1}}}
# One valid body each: the OpenAPI document's examples (and the fuzzer's first cases).
EXAMPLES = {
    "routes": {"uri": "/example/*", "upstream": {"nodes": {"rag:8000": 1}}, "plugins": {"key-auth": {}}},
    "upstreams": {"type": "roundrobin", "nodes": {"rag:8000": 1}},
    "consumers": {"username": "example", "plugins": {"key-auth": {"key": "example-key"}}},
    "plugin_configs": {"plugins": {"key-auth": {}}},
    "secrets": {"uri": "http://vault1:8200", "prefix": "kv/apisix"},
}
RESOURCES = {"routes": ROUTE, "upstreams": UPSTREAM, "consumers": CONSUMER, "plugin_configs": PLUGIN_CONFIG,
             "secrets": SECRET}


def _validator(schema: dict) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


# The fields first (their errors name the field), then what the resource must have.
_VALIDATORS = {name: _validator({k: v for k, v in schema.items() if k != "allOf"})
               for name, schema in RESOURCES.items()}
_NEEDS = {"routes": [(_validator(need), words) for need, words in _ROUTE_NEEDS]}


def problem(resource: str, value: dict) -> str | None:
    """APISIX's wording for the first thing `value` gets wrong, or None."""
    error = jsonschema.exceptions.best_match(_VALIDATORS[resource].iter_errors(value))
    if error is None:
        return next((words for need, words in _NEEDS.get(resource, ()) if not need.is_valid(value)), None)
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties" and where.endswith("plugins"):
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"unknown plugin [{unknown[0]}]"
    return f'property "{where}" validation failed: {error.message}' if where else error.message
