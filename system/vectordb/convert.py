"""Qdrant's REST JSON to qdrant-edge objects and back.

Everything that arrives from a client passes through here, so every malformed shape ends
as `BadInput` (HTTP 400), never as an exception from the engine.

    to_filter({"must": [{"key": "acl_groups", "match": {"any": ["eng"]}}]})
    # -> qdrant_edge.Filter(must=[FieldCondition("acl_groups", match=MatchAny(["eng"]))])
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

import qdrant_edge as qe

from system.vectordb.errors import BadInput

MAX_U64 = (1 << 64) - 1
DISTANCES = {"Cosine": qe.Distance.Cosine, "Euclid": qe.Distance.Euclid, "Dot": qe.Distance.Dot,
             "Manhattan": qe.Distance.Manhattan}
SCHEMA_TYPES = {"keyword": qe.PayloadSchemaType.Keyword, "integer": qe.PayloadSchemaType.Integer,
                "float": qe.PayloadSchemaType.Float, "geo": qe.PayloadSchemaType.Geo,
                "text": qe.PayloadSchemaType.Text, "bool": qe.PayloadSchemaType.Bool,
                "datetime": qe.PayloadSchemaType.Datetime, "uuid": qe.PayloadSchemaType.Uuid}
# Qdrant's forbidden characters, and no control characters (a name travels in URL paths).
COLLECTION_NAME = r'^[^<>:"/\\|?*\x00-\x1f\x7f]{1,255}$'
_COLLECTION_NAME = re.compile(COLLECTION_NAME)
# A vector's name becomes part of a directory's name in the edge shard (vector_storage-<name>):
# no character a file name refuses, and short enough for the 255 bytes of one (4 bytes a character).
VECTOR_NAME_CHARS = r'[^<>:"/\\|?*\x00-\x1f\x7f]'
VECTOR_NAME_MAX = 48
_VECTOR_NAME = re.compile(f"^{VECTOR_NAME_CHARS}{{1,{VECTOR_NAME_MAX}}}$")
# A payload key as a JSON path (a.b, a[], a[0].b, "a b".c). Qdrant's grammar, except that an
# unquoted key is ASCII (Qdrant takes any alphanumeric; quote others) and an index has at most
# 19 digits (it must fit a u64): a regex every JSON Schema tool reads alike, and every key it
# admits is one the engine parses, so the document and the validation agree.
_KEY = r'([A-Za-z0-9_-]+|"[^"\\]*")(\[[0-9]{0,19}\])*'
FIELD_PATH = rf"^{_KEY}(\.{_KEY})*$"
_FIELD_PATH = re.compile(FIELD_PATH)


# The integers a match compares with: Qdrant's i64 less its minimum. orjson reads an integer
# beyond 64 bits as a float, and every one below -2**63 rounds to the float -2**63, which
# would pass as that integer; so the bound is one above it, and an out-of-range one is refused.
MATCH_INT = (-(2**63) + 1, 2**63 - 1)


def _match_int(value: Any) -> bool:
    return value is not None and MATCH_INT[0] <= value <= MATCH_INT[1]


def integral(value: Any) -> int | None:
    """`value` as an int if JSON Schema counts it an integer (7 or 7.0, not true), else None.

    Every integer field checks with this, so that what the document admits is what passes."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def require(cond: bool, message: str) -> None:
    if not cond:
        raise BadInput(message)


def named(value: Any, names, message: str) -> str:
    """`value` if it is one of `names` (strings); anything else, an object included, is BadInput."""
    require(isinstance(value, str) and value in names, message)
    return value


def obj(value: Any, what: str) -> dict:
    require(isinstance(value, dict), f"{what} must be an object")
    return value


def known(value: dict, fields: set[str] | tuple[str, ...], what: str) -> dict:
    """`value` with no field but `fields`: the shapes the document closes (filters, conditions,
    geo shapes, sparse vectors) are refused with an unknown field, as Qdrant's serde does."""
    unknown = set(value) - set(fields)
    require(not unknown, f"{what}: unknown field(s) {', '.join(sorted(map(str, unknown)))[:200]}")
    return value


def opt_list(value: Any, what: str) -> list:
    if value is None:
        return []
    require(isinstance(value, list), f"{what} must be an array")
    return value


def vector_name(name: Any) -> str:
    """A new vector's name (dense or sparse): 1 to 48 characters a file name may hold."""
    require(isinstance(name, str) and _VECTOR_NAME.match(name) is not None,
            f"vector names must have 1 to {VECTOR_NAME_MAX} characters, none of <>:\"/\\|?* or control characters")
    return name


def collection_name(name: str) -> str:
    require(0 < len(name) <= 255, "collection name must have 1 to 255 characters")
    require(_COLLECTION_NAME.match(name) is not None, f"collection name `{name}` contains forbidden characters")
    return name


# --- ids ------------------------------------------------------------------------------------

def point_id(value: Any) -> int | str:
    """An unsigned 64-bit integer or a UUID (normalised to its hyphenated form)."""
    if isinstance(value, bool):
        raise BadInput(f"point id must be an unsigned integer or a UUID, got {value!r}")
    if integral(value) is not None:
        value = integral(value)  # 7.0 is an integer to JSON Schema, so the document admits it
        require(0 <= value <= MAX_U64, f"point id {value} is out of range")
        return value
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise BadInput(f"Unable to parse UUID: {value[:80]}") from None
    raise BadInput("point id must be an unsigned integer or a UUID")


def point_ids(values: Any, what: str = "points") -> list[int | str]:
    return [point_id(v) for v in opt_list(values, what)]


def id_out(value: Any) -> int | str:
    return value if isinstance(value, int) else str(value)


# --- vectors --------------------------------------------------------------------------------

_NUMBER_TYPES = {float, int}


def dense(value: Any, what: str = "vector") -> list[float]:
    require(isinstance(value, list), f"{what} must be an array of numbers")
    # Exact type checks (bool is an int subclass; strings must not be coerced), then C-level
    # passes: this runs for every float of every upsert.
    require(set(map(type, value)) <= _NUMBER_TYPES, f"{what} must contain only numbers")
    try:
        out = list(map(float, value))
    except OverflowError:
        raise BadInput(f"{what} has a number out of range") from None
    require(not any(map(math.isinf, out)) and not any(map(math.isnan, out)), f"{what} must contain only finite numbers")
    return out


def named_vector(value: Any, params: dict | None, sparse: bool, name: str) -> Any:
    """One vector for the vector `name` of a collection: dense, multi-dense or sparse."""
    label = f"vector `{name}`" if name else "vector"
    if sparse:
        v = known(obj(value, label), ("indices", "values"), label)
        indices, values = v.get("indices"), v.get("values")
        require(isinstance(indices, list), f"{label}: indices must be unsigned integers")
        indices = [integral(i) for i in indices]
        require(all(i is not None and 0 <= i < 2**32 for i in indices), f"{label}: indices must be unsigned integers")
        vals = dense(values, f"{label} values")
        require(len(indices) == len(vals), f"{label}: indices and values must have the same length")
        require(len(set(indices)) == len(indices), f"{label}: indices must be unique")
        return qe.SparseVector(indices, vals)
    require(params is not None, f"Not existing vector name error: {name}")
    size = params["size"]
    if params.get("multivector_config"):
        require(isinstance(value, list) and value and all(isinstance(r, list) for r in value),
                f"{label} must be an array of vectors (multivector)")
        rows = [dense(r, label) for r in value]
        for r in rows:
            require(len(r) == size, f"Vector dimension error: expected dim: {size}, got {len(r)}")
        return rows
    v = dense(value, label)
    require(len(v) == size, f"Vector dimension error: expected dim: {size}, got {len(v)}")
    return v


def vector_struct(value: Any, collection: dict) -> Any:
    """A point's vectors: a bare array for the unnamed vector, or {name: vector}."""
    vectors, sparse = collection["vectors"], collection["sparse_vectors"]
    if isinstance(value, dict) and not ({"indices", "values"} <= set(value)):
        out = {}
        for name, v in value.items():
            require(isinstance(name, str), "vector names must be strings")
            if name in sparse:
                out[name] = named_vector(v, None, True, name)
            else:
                out[name] = named_vector(v, vectors.get(name), False, name)
        return out
    require("" in vectors, "Not existing vector name error: collection has only named vectors; "
                           "give the vector as {name: vector}")
    return named_vector(value, vectors[""], False, "")


def vector_out(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, qe.SparseVector):
        return {"indices": list(value.indices), "values": list(value.values)}
    if isinstance(value, dict):
        return {k: vector_out(v) for k, v in value.items()}
    return value


# --- filters --------------------------------------------------------------------------------

def to_filter(value: Any) -> qe.Filter | None:
    if value is None:
        return None
    f = known(obj(value, "filter"), _FILTER, "filter")

    def conditions(key: str):
        raw = f.get(key)
        if raw is None:
            return None
        items = raw if isinstance(raw, list) else [raw]
        return [to_condition(c) for c in items]

    min_should = None
    if f.get("min_should") is not None:
        ms = known(obj(f["min_should"], "min_should"), ("conditions", "min_count"), "min_should")
        count = integral(ms.get("min_count"))
        require(count is not None and 0 <= count < 2**63,
                "min_should.min_count must be a non-negative integer")
        min_should = qe.MinShould([to_condition(c) for c in opt_list(ms.get("conditions"), "min_should.conditions")],
                                  count)
    return qe.Filter(must=conditions("must"), should=conditions("should"), must_not=conditions("must_not"),
                     min_should=min_should)


_FILTER = ("must", "should", "must_not", "min_should")
_FIELD_CONDITION = ("key", "match", "range", "geo_bounding_box", "geo_radius", "geo_polygon", "values_count",
                    "is_empty", "is_null")
_BOUNDS = ("gt", "gte", "lt", "lte")


def field_path(value: Any, what: str) -> str:
    require(isinstance(value, str) and _FIELD_PATH.match(value) is not None,
            f"{what} must be a payload key (a JSON path such as a.b or a[0])")
    return value


def field_paths(values: Any, what: str) -> list[str]:
    require(isinstance(values, list), f"{what} must list payload keys")
    return [field_path(v, what) for v in values]


def _geo_point(value: Any) -> qe.GeoPoint:
    p = known(obj(value, "geo point"), ("lon", "lat"), "geo point")
    lon, lat = p.get("lon"), p.get("lat")
    require(all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (lon, lat)),
            "geo point needs numeric lon and lat")
    require(-180 <= lon <= 180 and -90 <= lat <= 90, "geo point out of range")
    return qe.GeoPoint(lon=float(lon), lat=float(lat))


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
            f"{what} must be a number")
    return float(value)


def to_condition(value: Any):
    c = obj(value, "condition")
    if "key" in c:
        return _field_condition(known(c, _FIELD_CONDITION, "condition"))
    for kind in ("is_empty", "is_null", "has_id", "has_vector", "nested"):
        if kind in c:
            known(c, (kind,), f"{kind} condition")  # {kind: ...} alone, as the document's one-field shapes
    if "is_empty" in c:
        return qe.IsEmptyCondition(field_path(known(obj(c["is_empty"], "is_empty"), ("key",), "is_empty").get("key"),
                                              "is_empty.key"))
    if "is_null" in c:
        return qe.IsNullCondition(field_path(known(obj(c["is_null"], "is_null"), ("key",), "is_null").get("key"),
                                             "is_null.key"))
    if "has_id" in c:
        require(isinstance(c["has_id"], list), "has_id must be an array of point ids")
        return qe.HasIdCondition(set(point_ids(c["has_id"], "has_id")))
    if "has_vector" in c:
        require(isinstance(c["has_vector"], str), "has_vector must be a vector name")
        return qe.HasVectorCondition(c["has_vector"])
    if "nested" in c:
        n = known(obj(c["nested"], "nested"), ("key", "filter"), "nested")
        inner = to_filter(n.get("filter"))
        require(inner is not None, "nested.filter is required")
        return qe.NestedCondition(field_path(n.get("key"), "nested.key"), inner)
    if set(c) <= set(_FILTER):
        return to_filter(c)  # a nested filter ({} too: it matches every point)
    raise BadInput(f"unknown condition: {sorted(map(str, c))[:5]}")


class _EdgeBool:
    """A boolean that qdrant-edge's bindings keep boolean.

    qdrant-edge-py 0.9 turns a Python `True` given to MatchValue into the integer 1 (bool is
    an int subclass and the binding tries int first), so `match: {value: true}` matched
    nothing. PyO3 extracts numpy's bool_ as a boolean by its type's module and name; this
    class carries that name, which avoids a numpy dependency.
    """

    def __init__(self, value: bool) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return self.value


_EdgeBool.__module__ = "numpy"
_EdgeBool.__name__ = _EdgeBool.__qualname__ = "bool_"


def _match(m: dict):
    require(len(m) == 1, "match needs exactly one of value, any, except, text, text_any, phrase, prefix")
    if "value" in m:
        v = m["value"]
        if not isinstance(v, (str, bool)):
            v = integral(v)
        require(v is not None and (isinstance(v, (str, bool)) or _match_int(v)),
                f"match.value must be a string, a boolean or an integer from {MATCH_INT[0]} to {MATCH_INT[1]}")
        return qe.MatchValue(_EdgeBool(v) if isinstance(v, bool) else v)
    for key, cls in (("any", qe.MatchAny), ("except", qe.MatchExcept)):
        if key in m:
            vals = m[key]
            require(isinstance(vals, list), f"match.{key} must be an array of strings or of integers")
            if not all(isinstance(v, str) for v in vals):
                vals = [integral(v) for v in vals]
                require(all(_match_int(v) for v in vals),
                        f"match.{key} must be an array of strings or of integers from {MATCH_INT[0]} to {MATCH_INT[1]}")
            return cls(vals)
    for key, cls in (("text", qe.MatchText), ("text_any", qe.MatchTextAny), ("phrase", qe.MatchPhrase),
                     ("prefix", qe.MatchPrefix)):
        if key in m:
            require(isinstance(m[key], str), f"match.{key} must be a string")
            return cls(m[key])
    raise BadInput("match needs one of value, any, except, text, text_any, phrase, prefix")


def _field_condition(c: dict):
    key = field_path(c.get("key"), "condition key")
    kwargs: dict[str, Any] = {}
    if c.get("match") is not None:
        kwargs["match"] = _match(obj(c["match"], "match"))
    if c.get("range") is not None:
        r = known(obj(c["range"], "range"), _BOUNDS, "range")
        bounds = {k: r.get(k) for k in ("gt", "gte", "lt", "lte") if r.get(k) is not None}
        if bounds and all(isinstance(v, str) for v in bounds.values()):
            try:
                kwargs["range"] = qe.RangeDateTime(**bounds)
            except ValueError as exc:  # the engine's RFC 3339 parser: the document's `date-time`
                raise BadInput(f"range: {exc}") from None
        else:
            kwargs["range"] = qe.RangeFloat(**{k: _number(v, f"range.{k}") for k, v in bounds.items()})
    if c.get("geo_bounding_box") is not None:
        g = known(obj(c["geo_bounding_box"], "geo_bounding_box"), ("top_left", "bottom_right"), "geo_bounding_box")
        kwargs["geo_bounding_box"] = qe.GeoBoundingBox(_geo_point(g.get("top_left")), _geo_point(g.get("bottom_right")))
    if c.get("geo_radius") is not None:
        g = known(obj(c["geo_radius"], "geo_radius"), ("center", "radius"), "geo_radius")
        radius = _number(g.get("radius"), "geo_radius.radius")
        require(radius is not None and radius >= 0, "geo_radius.radius must be a non-negative number")
        kwargs["geo_radius"] = qe.GeoRadius(_geo_point(g.get("center")), radius)
    if c.get("geo_polygon") is not None:
        g = known(obj(c["geo_polygon"], "geo_polygon"), ("exterior", "interiors"), "geo_polygon")

        def ring(v):
            pts = [_geo_point(p) for p in opt_list(known(obj(v, "polygon ring"), ("points",), "polygon ring")
                                                   .get("points"), "points")]
            require(len(pts) >= 4, "a polygon ring needs at least 4 points")
            return pts
        try:
            kwargs["geo_polygon"] = qe.GeoPolygon(ring(g.get("exterior")),
                                                  [ring(i) for i in opt_list(g.get("interiors"), "interiors")] or None)
        except ValueError as exc:  # a ring not closed (its last point is not its first), as Qdrant refuses
            raise BadInput(f"geo_polygon: {exc}") from None
    if c.get("values_count") is not None:
        v = obj(c["values_count"], "values_count")
        known(v, _BOUNDS, "values_count")
        counts = {k: integral(v.get(k)) for k in ("lt", "gt", "lte", "gte") if v.get(k) is not None}
        require(all(x is not None and 0 <= x < 2**63 for x in counts.values()),
                "values_count bounds must be non-negative integers")
        kwargs["values_count"] = qe.ValuesCount(**counts)
    for flag in ("is_empty", "is_null"):
        if c.get(flag) is not None:
            require(isinstance(c[flag], bool), f"{flag} must be a boolean")
            kwargs[flag] = c[flag]
    require(bool(kwargs), f"condition on `{key}` needs match, range, geo_*, values_count, is_empty or is_null")
    return qe.FieldCondition(key, **kwargs)


# --- selectors ------------------------------------------------------------------------------

def with_payload(value: Any, default: bool):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return qe.PayloadSelector.Include(field_paths(value, "with_payload"))
    if isinstance(value, dict) and len(value) == 1:
        if "include" in value:
            return qe.PayloadSelector.Include(field_paths(value["include"], "with_payload.include"))
        if "exclude" in value:
            return qe.PayloadSelector.Exclude(field_paths(value["exclude"], "with_payload.exclude"))
    raise BadInput("with_payload must be a boolean, a list of fields, or {include|exclude: [...]}")


def with_vector(value: Any, default: bool = False):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    require(isinstance(value, list) and all(isinstance(k, str) for k in value),
            "with_vector must be a boolean or a list of vector names")
    return value


def search_params(value: Any) -> qe.SearchParams | None:
    if value is None:
        return None
    p = obj(value, "params")
    ef = p.get("hnsw_ef")
    ef = None if ef is None else integral(ef)
    require(p.get("hnsw_ef") is None or (ef is not None and 0 <= ef < 2**32),
            "params.hnsw_ef must be an unsigned integer")
    for flag in ("exact", "indexed_only"):
        require(p.get(flag) is None or isinstance(p.get(flag), bool), f"params.{flag} must be a boolean")
    quant = None
    if p.get("quantization") is not None:
        q = known(obj(p["quantization"], "params.quantization"), ("ignore", "rescore", "oversampling"),
                  "params.quantization")
        over = _number(q.get("oversampling"), "oversampling")
        require(over is None or over >= 1, "oversampling must be at least 1")
        for flag in ("ignore", "rescore"):
            require(q.get(flag) is None or isinstance(q.get(flag), bool), f"quantization.{flag} must be a boolean")
        quant = qe.QuantizationSearchParams(ignore=bool(q.get("ignore", False)), rescore=q.get("rescore"),
                                            oversampling=over)
    return qe.SearchParams(hnsw_ef=ef, exact=bool(p.get("exact") or False), quantization=quant,
                           indexed_only=bool(p.get("indexed_only") or False))


def uint(value: Any, what: str, default: int | None, minimum: int = 0, maximum: int = 1_000_000_000) -> int | None:
    if value is None:
        return default
    value = integral(value)  # 7.0 is an integer to JSON Schema, as in point_id
    require(value is not None and minimum <= value <= maximum,
            f"{what} must be an integer between {minimum} and {maximum}")
    return value


def score_threshold(value: Any) -> float | None:
    return _number(value, "score_threshold")


# --- results --------------------------------------------------------------------------------

def scored_out(p) -> dict:
    out = {"id": id_out(p.id), "version": p.version, "score": p.score, "payload": p.payload,
           "vector": vector_out(p.vector)}
    if p.order_value is not None:
        out["order_value"] = p.order_value
    return out


def record_out(r) -> dict:
    out = {"id": id_out(r.id), "payload": r.payload, "vector": vector_out(r.vector)}
    if r.order_value is not None:
        out["order_value"] = r.order_value
    return out


def enum_name(value: Any) -> str:
    return str(value).rsplit(".", 1)[-1].lower()
