"""The request bodies of the vector store's API as JSON Schema, for its OpenAPI document only.

The routes read their bodies themselves (`envelope.body_of` and `convert`), to answer in
Qdrant's error shape and to keep the upsert path free of a second parse. These models state
what that validation enforces, so that a client generated from the document (or schemathesis)
sends what the node accepts. Two kinds of constraint cannot be stated here, since they
depend on the collection: a dense vector's length is the collection's `size`, and a vector
name must be one of the collection's. Both are answered 400 as Qdrant does.

    @router.put("/points", openapi_extra=json_body(UpsertPoints))
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from system.vectordb.convert import COLLECTION_NAME, FIELD_PATH, MATCH_INT, MAX_U64, VECTOR_NAME_CHARS, VECTOR_NAME_MAX

# --- scalars -------------------------------------------------------------------------------

UInt = Annotated[StrictInt, Field(ge=0, le=1_000_000_000)]
PositiveInt = Annotated[StrictInt, Field(ge=1, le=1_000_000_000)]
Factor = Annotated[StrictInt, Field(ge=1, le=64)]
Number = float  # JSON has no NaN or infinity, so every number a client can send is finite
PointId = Annotated[StrictInt, Field(ge=0, le=MAX_U64)] | Annotated[str, Field(json_schema_extra={"format": "uuid"})]
FieldPath = Annotated[StrictStr, Field(pattern=FIELD_PATH, description="A payload key as a JSON path: a.b, a[], a[0]")]
VectorName = StrictStr
# A payload integer a match compares with: a signed 64-bit one less -2**63 (see convert.MATCH_INT).
I64 = Annotated[StrictInt, Field(ge=MATCH_INT[0], le=MATCH_INT[1], description="-(2**63 - 1) to 2**63 - 1")]


def given(*names: str) -> dict:
    """At least one of `names` present and not null: the node reads null as absent."""
    # The complement of null spelled out: schemathesis generates no `not` below the root.
    present = {"type": ["string", "number", "integer", "boolean", "array", "object"]}
    return {"anyOf": [{"required": [n], "properties": {n: present}} for n in names]}


class Strict(BaseModel):
    """Unknown fields are refused (filters and conditions, as Qdrant's serde does)."""

    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    """Unknown fields are ignored, as this node does for the bodies of whole requests."""

    model_config = ConfigDict(extra="allow")


# --- vectors -------------------------------------------------------------------------------

Dense = Annotated[list[Number], Field(description="The collection's `size` numbers")]
MultiDense = Annotated[list[Dense], Field(min_length=1)]


class Sparse(Strict):
    indices: Annotated[list[Annotated[StrictInt, Field(ge=0, lt=2**32)]], Field(json_schema_extra={"uniqueItems": True})]
    values: Annotated[list[Number], Field(description="As many as indices")]


Vector = Dense | MultiDense | Sparse
VectorStruct = Dense | MultiDense | dict[VectorName, Vector]


# --- filters -------------------------------------------------------------------------------

class Match(Strict):
    """One kind of match (null is not absent here: `{"value": null}` is refused)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1, "maxProperties": 1})
    value: StrictStr | I64 | StrictBool = None
    any: list[StrictStr] | list[I64] = None
    except_: list[StrictStr] | list[I64] = Field(None, alias="except")
    text: StrictStr = None
    text_any: StrictStr = None
    phrase: StrictStr = None
    prefix: StrictStr = None


class NumberRange(Strict):
    gt: Number | None = None
    gte: Number | None = None
    lt: Number | None = None
    lte: Number | None = None


DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class DateTimeRange(Strict):
    gt: DateTime | None = None
    gte: DateTime | None = None
    lt: DateTime | None = None
    lte: DateTime | None = None


Range = NumberRange | DateTimeRange


class GeoPoint(Strict):
    lon: Annotated[Number, Field(ge=-180, le=180)]
    lat: Annotated[Number, Field(ge=-90, le=90)]


class GeoBoundingBox(Strict):
    top_left: GeoPoint
    bottom_right: GeoPoint


class GeoRadius(Strict):
    center: GeoPoint
    radius: Annotated[Number, Field(ge=0)]


class GeoRing(Strict):
    """A closed line: its last point is its first (which no JSON Schema can say)."""

    points: Annotated[list[GeoPoint], Field(min_length=4)]


class GeoPolygon(Strict):
    exterior: GeoRing
    interiors: list[GeoRing] | None = None


class ValuesCount(Strict):
    lt: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] | None = None
    gt: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] | None = None
    lte: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] | None = None
    gte: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] | None = None


class FieldCondition(Strict):
    """A key and at least one condition on it (null is absent)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=given(
        "match", "range", "geo_bounding_box", "geo_radius", "geo_polygon", "values_count", "is_empty", "is_null"))
    key: FieldPath
    match: Match | None = None
    range: Range | None = None
    geo_bounding_box: GeoBoundingBox | None = None
    geo_radius: GeoRadius | None = None
    geo_polygon: GeoPolygon | None = None
    values_count: ValuesCount | None = None
    is_empty: StrictBool | None = None
    is_null: StrictBool | None = None


class KeyOnly(Strict):
    key: FieldPath


class IsEmpty(Strict):
    is_empty: KeyOnly


class IsNull(Strict):
    is_null: KeyOnly


class HasId(Strict):
    has_id: list[PointId]


class HasVector(Strict):
    has_vector: VectorName


class Nested(Strict):
    key: FieldPath
    filter: Filter


class NestedCondition(Strict):
    nested: Nested


Condition = Union[FieldCondition, IsEmpty, IsNull, HasId, HasVector, NestedCondition, "Filter"]


class MinShould(Strict):
    conditions: list[Condition] | None = None
    min_count: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]


class Filter(Strict):
    must: list[Condition] | Condition | None = None
    should: list[Condition] | Condition | None = None
    must_not: list[Condition] | Condition | None = None
    min_should: MinShould | None = None


# --- selectors and search parameters -------------------------------------------------------

class Include(Strict):
    include: list[FieldPath]


class Exclude(Strict):
    exclude: list[FieldPath]


WithPayload = StrictBool | list[FieldPath] | Include | Exclude | None
WithVector = StrictBool | list[VectorName] | None


class Quantization(Strict):
    ignore: StrictBool | None = None
    rescore: StrictBool | None = None
    oversampling: Annotated[Number, Field(ge=1)] | None = None


class SearchParams(Open):
    hnsw_ef: Annotated[StrictInt, Field(ge=0, lt=2**32)] | None = None
    exact: StrictBool | None = None
    indexed_only: StrictBool | None = None
    quantization: Quantization | None = None


# --- collections ---------------------------------------------------------------------------

class MultiVectorConfig(Open):
    comparator: Literal["max_sim"]


class VectorParams(Open):
    size: Annotated[StrictInt, Field(ge=1, le=65536)]
    distance: Literal["Cosine", "Euclid", "Dot", "Manhattan"]
    on_disk: StrictBool | None = None
    datatype: Literal["float32", "float16", "uint8"] | None = None
    multivector_config: MultiVectorConfig | None = None


class SparseParams(Open):
    modifier: Literal["none", "idf"] | None = None


# The name of a new vector (convert.vector_name). A dense one is neither `size` nor `distance`:
# a map with either is read as one unnamed vector's parameters.
SPARSE_NAMES = {"minLength": 1, "maxLength": VECTOR_NAME_MAX, "pattern": f"^{VECTOR_NAME_CHARS}*$"}
DENSE_NAMES = {**SPARSE_NAMES, "pattern": f"^(?!(size|distance)$){VECTOR_NAME_CHARS}*$"}


class CreateCollection(Open):
    """At least one vector, dense or sparse (the names of the two kinds must differ)."""

    # `vectors: {}` beside sparse vectors is a sparse-only collection, as in Qdrant.
    model_config = ConfigDict(extra="allow", json_schema_extra={"anyOf": [
        {"required": [kind], "properties": {kind: {"type": "object", "minProperties": 1}}}
        for kind in ("vectors", "sparse_vectors")]})
    vectors: VectorParams | Annotated[dict[str, VectorParams], Field(
        json_schema_extra={"propertyNames": DENSE_NAMES})] | None = None
    sparse_vectors: Annotated[dict[str, SparseParams | None], Field(json_schema_extra={
        "propertyNames": SPARSE_NAMES})] | None = None
    write_consistency_factor: Factor | None = None
    replication_factor: Factor | None = None
    on_disk_payload: StrictBool | None = None
    init_from: None = Field(None, description="Not supported by this node")


class CollectionParamsPatch(Open):
    write_consistency_factor: Factor | None = None
    replication_factor: Factor | None = None


class UpdateCollection(Open):
    params: CollectionParamsPatch | None = None


class FieldSchemaParams(Open):
    type: Literal["keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid"]
    is_tenant: StrictBool | None = None
    lookup: StrictBool | None = None
    range: StrictBool | None = None
    is_principal: StrictBool | None = None


class CreateIndex(Open):
    field_name: FieldPath
    field_schema: Literal["keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid"] | FieldSchemaParams


# --- point writes --------------------------------------------------------------------------

class PointStruct(Open):
    id: PointId
    vector: VectorStruct
    payload: dict[str, Any] | None = None


class Batch(Open):
    ids: list[PointId]
    vectors: list[VectorStruct] | dict[VectorName, list[Vector]] = Field(description="One per id")
    payloads: list[dict[str, Any] | None] | None = Field(None, description="One per id")


class UpsertPoints(Open):
    model_config = ConfigDict(extra="allow", json_schema_extra=given("points", "batch"))
    points: list[PointStruct] | None = Field(None, description="Or give a batch")
    batch: Batch | None = None
    update_filter: Filter | None = None
    update_mode: Literal["upsert", "insert_only", "update_only"] | None = None
    shard_key: None = Field(None, description="Not supported by this node")


class Selector(Open):
    model_config = ConfigDict(extra="allow", json_schema_extra=given("points", "filter"))
    points: list[PointId] | None = Field(None, description="These points, or the ones the filter selects")
    filter: Filter | None = None


class SetPayload(Selector):
    payload: dict[str, Any]
    key: FieldPath | None = None


class DeletePayload(Selector):
    keys: list[FieldPath]


class PointVectors(Open):
    id: PointId
    vector: VectorStruct


class UpdateVectors(Open):
    points: Annotated[list[PointVectors], Field(min_length=1)]


class DeleteVectors(Selector):
    vector: list[VectorName]


class UpsertOp(Strict):
    upsert: UpsertPoints


class DeleteOp(Strict):
    delete: Selector


class SetPayloadOp(Strict):
    set_payload: SetPayload


class OverwritePayloadOp(Strict):
    overwrite_payload: SetPayload


class DeletePayloadOp(Strict):
    delete_payload: DeletePayload


class ClearPayloadOp(Strict):
    clear_payload: Selector


class UpdateVectorsOp(Strict):
    update_vectors: UpdateVectors


class DeleteVectorsOp(Strict):
    delete_vectors: DeleteVectors


class BatchUpdate(Open):
    operations: list[UpsertOp | DeleteOp | SetPayloadOp | OverwritePayloadOp | DeletePayloadOp | ClearPayloadOp
                     | UpdateVectorsOp | DeleteVectorsOp] | None = None


# --- point reads ---------------------------------------------------------------------------

class GetPoints(Open):
    ids: list[PointId]
    with_payload: WithPayload = None
    with_vector: WithVector = None


class OrderBy(Open):
    key: FieldPath
    direction: Literal["asc", "desc"] | None = None
    start_from: Number | DateTime | None = None


class Scroll(Open):
    # The engine pages an ordered scroll by `order_by.start_from`, not by an offset: one of the
    # two absent or null. Spelled without `not`, which schemathesis cannot negate below the root.
    model_config = ConfigDict(extra="allow", json_schema_extra={"anyOf": [
        {"properties": {"offset": {"type": "null"}}}, {"properties": {"order_by": {"type": "null"}}}]})
    offset: PointId | None = None
    limit: PositiveInt | None = None
    filter: Filter | None = None
    with_payload: WithPayload = None
    with_vector: WithVector = None
    order_by: FieldPath | OrderBy | None = None


class Count(Open):
    filter: Filter | None = None
    exact: StrictBool = True


class NamedVector(Strict):
    name: VectorName
    vector: Dense | MultiDense


class Search(Open):
    vector: Dense | MultiDense | NamedVector
    limit: PositiveInt
    offset: UInt | None = None
    filter: Filter | None = None
    params: SearchParams | None = None
    with_payload: WithPayload = None
    with_vector: WithVector = None
    score_threshold: Number | None = None


class SearchBatch(Open):
    searches: list[Search] | None = None


VectorInput = Vector | PointId


class NearestQuery(Open):
    nearest: VectorInput
    mmr: None = Field(None, description="Not supported by this node")


class Recommend(Open):
    # A positive example, or (best_score, sum_scores) a negative one: average_vector needs a positive.
    model_config = ConfigDict(extra="allow", json_schema_extra={"anyOf": [
        {"required": ["positive"], "properties": {"positive": {"type": "array", "minItems": 1}}},
        {"required": ["strategy", "negative"], "properties": {"strategy": {"enum": ["best_score", "sum_scores"]},
                                                              "negative": {"type": "array", "minItems": 1}}}]})
    positive: list[VectorInput] | None = Field(None, description="Positive or negative examples, at least one")
    negative: list[VectorInput] | None = None
    strategy: Literal["average_vector", "best_score", "sum_scores"] | None = None


class RecommendQuery(Open):
    # The node reads the first kind present (nearest, recommend, fusion, rrf, order_by, sample): none before this one.
    model_config = ConfigDict(extra="allow", json_schema_extra={"propertyNames": {"pattern": "^(?!(nearest)$)"}})
    recommend: Recommend


class FusionQuery(Open):
    # The node reads the first kind present (nearest, recommend, fusion, rrf, order_by, sample): none before this one.
    model_config = ConfigDict(extra="allow", json_schema_extra={"propertyNames": {"pattern": "^(?!(nearest|recommend)$)"}})
    fusion: Literal["rrf", "dbsf"]


class Rrf(Open):
    k: PositiveInt | None = None
    weights: list[Number] | None = Field(None, description="One per prefetch")


class RrfQuery(Open):
    # The node reads the first kind present (nearest, recommend, fusion, rrf, order_by, sample): none before this one.
    model_config = ConfigDict(extra="allow", json_schema_extra={"propertyNames": {"pattern": "^(?!(nearest|recommend|fusion)$)"}})
    rrf: Rrf


class OrderByQuery(Open):
    # The node reads the first kind present (nearest, recommend, fusion, rrf, order_by, sample): none before this one.
    model_config = ConfigDict(extra="allow", json_schema_extra={"propertyNames": {"pattern": "^(?!(nearest|recommend|fusion|rrf)$)"}})
    order_by: FieldPath | OrderBy


class SampleQuery(Open):
    # The node reads the first kind present (nearest, recommend, fusion, rrf, order_by, sample): none before this one.
    model_config = ConfigDict(extra="allow", json_schema_extra={"propertyNames": {"pattern": "^(?!(nearest|recommend|fusion|rrf|order_by)$)"}})
    sample: Literal["random"]


Query = (VectorInput | NearestQuery | RecommendQuery | FusionQuery | RrfQuery | OrderByQuery | SampleQuery)


class Prefetch(Open):
    # The engine refuses prefetches without a query to score them by (an empty list is none), and
    # a fusion without prefetches to fuse.
    model_config = ConfigDict(extra="allow", json_schema_extra={"allOf": [
        {"anyOf": [{"properties": {"prefetch": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]}}},
                   given("query")]},
        {"anyOf": [{"properties": {"query": {"anyOf": [
                       {"type": ["array", "boolean", "integer", "null", "number", "string"]},
                       # the query kinds the node reads before fusion and rrf, or after them
                       {"type": "object", "anyOf": [{"required": ["nearest"]}, {"required": ["recommend"]},
                                                    {"propertyNames": {"pattern": "^(?!(fusion|rrf)$)"}}]}]}}},
                   {"required": ["prefetch"], "properties": {"prefetch": {"anyOf": [{"type": "array", "minItems": 1},
                                                                                    {"type": "object"}]}}}]}]})
    query: Query | None = None
    using: VectorName | None = None
    prefetch: list[Prefetch] | Prefetch | None = None
    filter: Filter | None = None
    params: SearchParams | None = None
    limit: UInt | None = None
    score_threshold: Number | None = None
    lookup_from: None = Field(None, description="Not supported by this node")


class QueryPoints(Prefetch):
    offset: UInt | None = None
    with_payload: WithPayload = None
    with_vector: WithVector = None
    shard_key: None = Field(None, description="Not supported by this node")


class QueryBatch(Open):
    searches: list[QueryPoints] | None = None


# --- replication (between nodes) -----------------------------------------------------------

class Entry(Open):
    origin: StrictStr
    seq: Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
    ts: Number
    op: dict[str, Any] = Field(description="The logged operation; one that does not apply is logged and skipped")


class Apply(Open):
    sender: StrictStr | None = None
    entries: list[Entry]


Stamp = Annotated[list, Field(min_length=2, max_length=2, description="[ts, origin]",
                              json_schema_extra={"prefixItems": [{"type": "number"}, {"type": "string"}]})]
Watermarks = dict[str, Annotated[StrictInt, Field(ge=0, le=2**63 - 1, description="Applied up to this seq")]]


class KeptConfig(Open):
    """A collection's config as a node keeps it: the unnamed vector is named "" (named false)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"anyOf": [
        {"properties": {"named": {"const": False}, "vectors": {"required": [""], "maxProperties": 1}}},
        {"properties": {"named": {"const": True}, "vectors": {"propertyNames": DENSE_NAMES}},
         "anyOf": [{"properties": {"vectors": {"minProperties": 1}}},
                   {"required": ["sparse_vectors"], "properties": {"sparse_vectors": {"type": "object",
                                                                                      "minProperties": 1}}}]}]})
    vectors: dict[str, VectorParams] = Field(description="Dense and sparse names differ")
    named: StrictBool
    sparse_vectors: Annotated[dict[str, SparseParams | None], Field(json_schema_extra={
        "propertyNames": SPARSE_NAMES})] | None = None
    write_consistency_factor: Factor | None = None
    replication_factor: Factor | None = None
    on_disk_payload: StrictBool | None = None


class SnapshotCollection(Open):
    name: Annotated[StrictStr, Field(pattern=COLLECTION_NAME)]
    config: KeptConfig
    payload_schema: Annotated[dict[str, Literal["keyword", "integer", "float", "geo", "text", "bool", "datetime",
                                                "uuid"] | FieldSchemaParams],
                              Field(json_schema_extra={"propertyNames": {"pattern": FIELD_PATH}})] | None = None
    created_by: Annotated[list, Field(min_length=2, max_length=2, description="[origin, seq]", json_schema_extra={
        "prefixItems": [{"type": "string"}, {"type": "integer"}]})] | None = None


class HeaderPart(Open):
    kind: Literal["header"]
    collections: list[SnapshotCollection] | None = None


class SnapshotPoint(Open):
    id: PointId
    vector: VectorStruct | None = None
    payload: dict[str, Any] | None = None
    stamp: Stamp | None = None


class PointsPart(Open):
    kind: Literal["points"]
    collection: StrictStr
    points: list[SnapshotPoint] | None = None


class TombstonesPart(Open):
    kind: Literal["tombstones"]
    collection: StrictStr
    stamps: (list[Annotated[list, Field(min_length=3, max_length=3, description="[id, ts, origin]", json_schema_extra={
        "prefixItems": [{"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_U64},
                                   {"type": "string", "format": "uuid"}]}, {"type": "number"}, {"type": "string"}]})]]
              | None) = None


class EndPart(Open):
    kind: Literal["end"]
    watermarks: Watermarks
    clock_floor: Number
    collections: list[StrictStr]


class SnapshotPart(Open):
    part: Annotated[HeaderPart | PointsPart | TombstonesPart | EndPart, Field(discriminator="kind")]


for _model in (Nested, MinShould, Filter, Prefetch, QueryPoints):
    _model.model_rebuild()
