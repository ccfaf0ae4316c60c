"""Formats the services' schemas name that schemathesis cannot generate by itself
(`SCHEMATHESIS_HOOKS=tests.system.common.schemathesis_hooks`, set by schemathesis_cli.run).

`format: rego`: a Rego module OPA compiles. A JSON Schema cannot say "compiles"; the format
names the constraint, and this strategy generates values that meet it, so a schema-valid
policy is a compilable one and a rejected one is a real mismatch.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import jsonschema
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation

_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
    lambda n: n not in {"default", "package", "import", "not", "with", "as", "some", "else", "true", "false",
                        "null", "if", "in", "every", "contains"})
_VALUE = st.one_of(st.booleans(), st.integers(-1000, 1000), st.from_regex(r"[a-z ]{0,12}", fullmatch=True).map(
    lambda s: f'"{s}"'))


@st.composite
def rego_module(draw) -> str:
    package = ".".join(draw(st.lists(_NAME, min_size=1, max_size=3)))
    rules = draw(st.dictionaries(_NAME, _VALUE, min_size=1, max_size=4))
    body = "\n".join(f"default {name} := {str(v).lower() if isinstance(v, bool) else v}" for name, v in rules.items())
    return f"package {package}\n\n{body}\n"


schemathesis.openapi.format("rego", rego_module())


# --- the vector store: its points routes against one collection the test created ------------
#
# Some of what the vector store validates depends on a collection (a vector's length, the
# vector names, whether a point exists) or ties fields together (a batch's vectors, one per
# id). No schema of the API can state that; `HALAB_VECTORDB_FIXTURE` ({"name": ..., "size": n,
# "ordered": key}: a collection with one unnamed dense vector of that size and a range index on
# that payload key, what order_by needs) fits the document to that
# collection before schemathesis reads it, so a schema-valid request is a valid one.

_DENSE = "The collection's `size` numbers"


def _is_dense(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") == "array" and node.get("description") == _DENSE


def _is_multi(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") == "array" and _is_dense(node.get("items"))


def _is_named_map(node: Any) -> bool:
    """dict[VectorName, ...]: named vectors (one or a list per name)."""
    if not (isinstance(node, dict) and node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict)):
        return False
    inner = node["additionalProperties"]
    inner = inner.get("items", inner) if inner.get("type") == "array" else inner
    return any(_is_dense(alt) for alt in inner.get("anyOf", ()))


def _is_unfit(node: Any) -> bool:
    """A form the fixture collection (one unnamed dense vector) refuses."""
    return (_is_multi(node) or _is_named_map(node)
            or (isinstance(node, dict) and node.get("$ref") in ("#/components/schemas/Sparse",
                                                                 "#/components/schemas/NamedVector")))


def _fit(node: Any, size: int) -> Any:
    if isinstance(node, list):
        return [_fit(n, size) for n in node]
    if not isinstance(node, dict):
        return node
    if _is_dense(node):
        return {**node, "minItems": size, "maxItems": size}
    out = {k: _fit(v, size) for k, v in node.items()}
    if isinstance(out.get("anyOf"), list) and any(_is_dense(alt) or alt.get("minItems") == size
                                                  for alt in out["anyOf"] if isinstance(alt, dict)):
        out["anyOf"] = [alt for alt in out["anyOf"] if not _is_unfit(alt)]
    return out


def _fit_points_body(schema: dict, size: int, ordered: str) -> None:
    """Vector names, batch lengths, order_by keys: what the fixture collection and the node require."""
    comps = schema["components"]["schemas"]
    comps["OrderBy"]["properties"]["key"] = {"const": ordered}  # the one key with a range index
    comps["Rrf"]["properties"]["weights"] = {"type": "null"}  # one per prefetch: no schema counts them
    props = comps["Batch"]["properties"]
    props["ids"].update(minItems=1, maxItems=1)
    props["vectors"] = {**props["vectors"]["anyOf"][0], "minItems": 1, "maxItems": 1}
    props["payloads"]["anyOf"][0].update(minItems=1, maxItems=1)
    # The one vector is unnamed: no `using`, no list of vector names to return.
    for node in _walk(schema):
        p = node.get("properties") if isinstance(node, dict) else None
        if not isinstance(p, dict):
            continue
        if "using" in p:
            p["using"] = {"type": "null"}
        if "order_by" in p and p["order_by"] != {"type": "null"}:  # not Scroll's "no order_by" alternative
            alts = [{"const": ordered}, {"$ref": "#/components/schemas/OrderBy"}]
            nullable = any(alt.get("type") == "null" for alt in p["order_by"].get("anyOf", ()))
            p["order_by"] = {"anyOf": [*alts, {"type": "null"}] if nullable else alts}
        names = p.get("vector")
        if isinstance(names, dict) and names.get("type") == "array" and names.get("items", {}).get("type") == "string":
            p["vector"] = {**names, "items": {"const": ""}}  # the names of vectors to delete
        if "with_vector" in p:
            p["with_vector"] = {"anyOf": [{"type": "boolean"}, {"type": "null"}]}


def _walk(node: Any):
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _walk(child)


# --- the vector store: its recursive filters, bounded for generation only -----------------
#
# A Filter's conditions may be filters (and nested conditions hold filters), to any depth: the
# node takes them, as Qdrant's clients send them, and the served document says so. Generating
# from that recursion is slow and deep; `HALAB_VECTORDB_FILTER_DEPTH` (n) makes the copy of the
# document schemathesis generates from recurse at most n levels (a filter at level n has no
# filter, nor a nested condition, among its conditions). The bounded copy is narrower than the
# served one, so a positive case stays valid; a negative one may be invalid only in the copy (a
# filter one level deeper), and such a case is dropped by `filter_case` below, so no valid
# request is ever called invalid.

_FILTER_PARTS = ("Filter", "MinShould", "NestedCondition", "Nested")
_SERVED: dict | None = None  # the document as served, before any hook rewrote it


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


def _at(name: str, level: int) -> str:
    return name if level == 1 else f"{name}_{level}"


def _releveled(node: Any, level: int, depth: int) -> Any:
    """A part of a level-`level` filter: its filters one level down, none below `depth`."""
    if isinstance(node, list):
        return [_releveled(n, level, depth) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("$ref") == _ref("Filter"):
        return {"$ref": _ref(_at("Filter", level + 1))}
    if node.get("$ref") in (_ref("MinShould"), _ref("NestedCondition")):
        return {"$ref": _ref(_at(node["$ref"].rsplit("/", 1)[1], level))}
    out = {k: _releveled(v, level, depth) for k, v in node.items()}
    if level == depth and isinstance(node.get("anyOf"), list):  # the last level: no deeper filter
        out["anyOf"] = [alt for alt, orig in zip(out["anyOf"], node["anyOf"])
                        if not (isinstance(orig, dict) and orig.get("$ref") in (_ref("Filter"), _ref("NestedCondition")))]
    return out


def _bound_filters(schema: dict, depth: int) -> None:
    comps = schema["components"]["schemas"]
    parts = {name: copy.deepcopy(comps[name]) for name in _FILTER_PARTS}
    for level in range(1, depth + 1):
        comps[_at("Filter", level)] = _releveled(parts["Filter"], level, depth)
        comps[_at("MinShould", level)] = _releveled(parts["MinShould"], level, depth)
        if level < depth:
            comps[_at("NestedCondition", level)] = {**parts["NestedCondition"], "properties": {
                "nested": {"$ref": _ref(_at("Nested", level))}}}
            nested = copy.deepcopy(parts["Nested"])
            nested["properties"]["filter"] = {"$ref": _ref(_at("Filter", level + 1))}
            comps[_at("Nested", level)] = nested


_VALIDATORS: dict[tuple[str, str], Any] = {}


def _valid_as_served(case) -> bool:
    """Whether `case`'s body is valid under the served document (the unbounded filters)."""
    key = (case.operation.path, case.method.lower())
    if key not in _VALIDATORS:
        content = _SERVED["paths"].get(key[0], {}).get(key[1], {}).get("requestBody", {})
        schema = content.get("content", {}).get("application/json", {}).get("schema")
        _VALIDATORS[key] = schema and jsonschema.Draft202012Validator(
            {**schema, "components": _SERVED["components"]}, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return bool(_VALIDATORS[key]) and _VALIDATORS[key].is_valid(case.body)


@schemathesis.hook
def filter_case(context, case) -> bool:
    """Drop a negative case whose negative part is its body and whose body the served document
    admits: it is invalid only in the bounded copy (see `_bound_filters`)."""
    meta = case.meta
    if _SERVED is None or meta is None or meta.generation.mode.is_positive:
        return True
    negative = {location for location, info in meta.components.items() if info.mode.is_negative}
    if negative != {ParameterLocation.BODY}:
        return True
    return not _valid_as_served(case)


@schemathesis.hook
def before_load_schema(context, raw_schema: dict) -> None:
    global _SERVED
    if "/collections/{collection_name}/points" not in raw_schema.get("paths", {}):
        return
    depth = os.environ.get("HALAB_VECTORDB_FILTER_DEPTH")
    if depth:
        _SERVED = copy.deepcopy(raw_schema)
        _VALIDATORS.clear()
        _bound_filters(raw_schema, int(depth))
    _names_apart(raw_schema)
    fixture = os.environ.get("HALAB_VECTORDB_FIXTURE")
    if not fixture:
        return
    fixture = json.loads(fixture)
    size = fixture["size"]
    raw_schema["components"] = _fit(raw_schema["components"], size)
    raw_schema["paths"] = _fit(raw_schema["paths"], size)
    _fit_points_body(raw_schema, size, fixture["ordered"])
    for path, item in raw_schema["paths"].items():
        if path.startswith("/collections/{collection_name}/points"):
            for op in item.values():
                for param in op.get("parameters", ()) if isinstance(op, dict) else ():
                    if param.get("name") == "collection_name":
                        param["schema"] = {"type": "string", "enum": [fixture["name"]]}


_CHARS = r'[^<>:"/\\|?*\x00-\x1f\x7f]'  # what a vector's name may hold (system.vectordb.convert)


def _names_apart(schema: dict) -> None:
    """A collection's dense and sparse vector names apart (the node refuses one name for both), in a
    new collection and in one a peer's snapshot carries: dense names "" or d_..., sparse ones s_..."""
    create = schema["paths"]["/collections/{collection_name}"]["put"]["requestBody"]["content"]["application/json"]
    props = create["schema"]["properties"]
    for alt in props["vectors"]["anyOf"]:
        if "additionalProperties" in alt:
            alt["propertyNames"] = {"pattern": f"^d_{_CHARS}{{0,46}}$"}
    for alt in props["sparse_vectors"]["anyOf"]:
        if "additionalProperties" in alt:
            alt["propertyNames"] = {"pattern": f"^s_{_CHARS}{{0,46}}$"}
    kept = schema["components"]["schemas"].get("KeptConfig")
    if kept:
        kept["properties"]["vectors"]["propertyNames"] = {"pattern": f"^(d_{_CHARS}{{0,46}})?$"}
        for alt in kept["properties"]["sparse_vectors"].get("anyOf", ()):
            if "additionalProperties" in alt:
                alt["propertyNames"] = {"pattern": f"^s_{_CHARS}{{0,46}}$"}


def _close_rings(node: Any) -> None:
    """A geo polygon's rings closed (their first point repeated at the end), as the node requires."""
    for n in _walk(node):
        points = n.get("points") if isinstance(n, dict) else None
        if (isinstance(points, list) and len(points) >= 4 and set(n) == {"points"}
                and all(isinstance(p, dict) and set(p) == {"lon", "lat"} for p in points) and points[0] != points[-1]):
            points.append(dict(points[0]))


def _pair_sparse(node: Any) -> None:
    """A sparse vector's values as many as its indices, as the node requires."""
    for n in _walk(node):
        if (isinstance(n, dict) and set(n) == {"indices", "values"} and isinstance(n["indices"], list)
                and isinstance(n["values"], list) and len(n["indices"]) != len(n["values"])):
            size = min(len(n["indices"]), len(n["values"]))
            del n["indices"][size:], n["values"][size:]


@schemathesis.hook
def map_case(context, case):
    """On map_case, not map_body: the coverage phase applies only case hooks. Positive cases only:
    a negative one stays as generated (the node refuses it whatever else it holds)."""
    body = case.body
    meta = case.meta
    if not isinstance(body, (dict, list)) or (meta is not None and not meta.generation.mode.is_positive):
        return case
    if os.environ.get("HALAB_VECTORDB_FIXTURE"):
        _close_rings(body)
    if case.operation.path == "/replication/snapshot":
        _pair_sparse(body)
    return case
