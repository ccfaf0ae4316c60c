"""Reads of one collection: retrieve, count, scroll, the classic search and the universal
query (vectors, point ids, recommend, fusion of prefetches, order_by, sample).

    search.query(c, {"query": [1, 0, 0, 0], "limit": 3, "filter": {"must": [...]}})
    # -> [{"id": 1, "version": 0, "score": 1.0, "payload": None, "vector": None}, ...]
"""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe

from system.vectordb import convert as cv
from system.vectordb.collection import Collection, engine_call
from system.vectordb.errors import BadInput, NotFound

DEFAULT_LIMIT = 10


def retrieve(c: Collection, ids: list, payload: Any = True, vector: Any = False) -> list[dict]:
    records = engine_call(c.shard.retrieve, ids, cv.with_payload(payload, True), cv.with_vector(vector))
    return [cv.record_out(r) for r in records]


def count(c: Collection, body: dict) -> int:
    exact = body.get("exact", True)
    cv.require(isinstance(exact, bool), "exact must be a boolean")
    return engine_call(c.shard.count, qe.CountRequest(exact=exact, filter=cv.to_filter(body.get("filter"))))


def scroll(c: Collection, body: dict) -> dict:
    order_by = body.get("order_by")
    offset = body.get("offset")
    req = qe.ScrollRequest(
        offset=cv.point_id(offset) if offset is not None else None,
        limit=cv.uint(body.get("limit"), "limit", DEFAULT_LIMIT, minimum=1),
        filter=cv.to_filter(body.get("filter")),
        with_payload=cv.with_payload(body.get("with_payload"), True),
        with_vector=cv.with_vector(body.get("with_vector")),
        order_by=_order_by(order_by) if order_by is not None else None)
    records, next_offset = engine_call(c.shard.scroll, req)
    return {"points": [cv.record_out(r) for r in records],
            "next_page_offset": cv.id_out(next_offset) if next_offset is not None else None}


def search(c: Collection, body: dict) -> list[dict]:
    """The classic /points/search: a vector (or {name, vector}) and a filter."""
    cv.obj(body, "search request")
    raw = body.get("vector")
    using = None
    if isinstance(raw, dict) and "name" in raw:
        cv.known(raw, ("name", "vector"), "vector")
        using = raw["name"]
        cv.require(isinstance(using, str), "vector.name must be a string")
        raw = raw.get("vector")
    cv.require(raw is not None, "vector is required")
    # A vector given inline (the document's Dense | MultiDense): unlike /points/query, the
    # classic search takes no point id in its place, as Qdrant's does not.
    cv.require(isinstance(raw, list), "vector must be an array of numbers (or of vectors), not a point id")
    query = qe.Query.Nearest(query_vector(c, raw, using), using=using)
    limit = cv.uint(body.get("limit"), "limit", None, minimum=1)
    cv.require(limit is not None, "limit is required")
    req = qe.SearchRequest(query=query, limit=limit, offset=cv.uint(body.get("offset"), "offset", 0),
                           filter=cv.to_filter(body.get("filter")), params=cv.search_params(body.get("params")),
                           with_vector=cv.with_vector(body.get("with_vector")),
                           with_payload=cv.with_payload(body.get("with_payload"), False),
                           score_threshold=cv.score_threshold(body.get("score_threshold")))
    return [cv.scored_out(p) for p in engine_call(c.shard.search, req)]


def query(c: Collection, body: dict) -> list[dict]:
    """The universal /points/query: vectors, ids, recommend, fusion of prefetches, order_by."""
    cv.obj(body, "query request")
    cv.require(body.get("lookup_from") is None, "lookup_from is not supported by this node")
    cv.require(body.get("shard_key") is None, "shard keys are not supported by this node")
    query, exclude = _scoring_query(c, body)
    flt = _filter_excluding(body.get("filter"), exclude)
    req = qe.QueryRequest(
        limit=cv.uint(body.get("limit"), "limit", DEFAULT_LIMIT), offset=cv.uint(body.get("offset"), "offset", 0),
        query=query, prefetches=_prefetches(c, body.get("prefetch")),
        with_vector=cv.with_vector(body.get("with_vector")),
        with_payload=cv.with_payload(body.get("with_payload"), False), filter=flt,
        score_threshold=cv.score_threshold(body.get("score_threshold")),
        params=cv.search_params(body.get("params")))
    return [cv.scored_out(p) for p in engine_call(c.shard.query, req)]


def _filter_excluding(raw: Any, exclude: Any) -> qe.Filter | None:
    """The request's filter, less the points a query by example names (they never answer themselves)."""
    flt = cv.to_filter(raw)
    if exclude is None:
        return flt
    return qe.Filter(must=[flt], must_not=[exclude]) if flt is not None else qe.Filter(must_not=[exclude])


def _prefetches(c: Collection, raw: Any) -> list | None:
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for p in items:
        p = cv.obj(p, "prefetch")
        query, exclude = _scoring_query(c, p)
        flt = _filter_excluding(p.get("filter"), exclude)
        cv.require(p.get("lookup_from") is None, "lookup_from is not supported by this node")
        out.append(qe.Prefetch(limit=cv.uint(p.get("limit"), "prefetch.limit", DEFAULT_LIMIT), query=query,
                               prefetches=_prefetches(c, p.get("prefetch")),
                               params=cv.search_params(p.get("params")), filter=flt,
                               score_threshold=cv.score_threshold(p.get("score_threshold"))))
    return out


def _is_id(value: Any) -> bool:
    """A point id rather than a vector: a string, or an integer (7.0 too, as JSON Schema counts)."""
    return isinstance(value, str) or cv.integral(value) is not None


def query_vector(c: Collection, raw: Any, using: str | None):
    """A vector given inline, or a point id whose stored vector is used."""
    name = using or ""
    if _is_id(raw):
        pid = cv.point_id(raw)
        records = engine_call(c.shard.retrieve, [pid], False, [name])
        if not records:
            raise NotFound(f"No point with id {pid} found")  # as Qdrant answers
        vec = records[0].vector
        if isinstance(vec, dict):
            vec = vec.get(name)
        cv.require(vec is not None, f"point {pid} has no vector `{name}`")
        return vec
    if name in c.sparse_vectors:
        return cv.named_vector(raw, None, True, name)
    return cv.named_vector(raw, c.vectors.get(name), False, name)


def _scoring_query(c: Collection, body: dict):
    """(edge query, ids to exclude) for a Query / VectorInput of the REST API."""
    raw = body.get("query")
    using = body.get("using")
    cv.require(using is None or isinstance(using, str), "using must be a vector name")
    if raw is None:
        return None, None
    exclude = None
    if _is_id(raw):
        exclude = qe.HasIdCondition({cv.point_id(raw)})
        return qe.Query.Nearest(query_vector(c, raw, using), using=using), exclude
    if isinstance(raw, list) or (isinstance(raw, dict) and {"indices", "values"} <= set(raw)):
        return qe.Query.Nearest(query_vector(c, raw, using), using=using), None
    q = cv.obj(raw, "query")
    if "nearest" in q:
        cv.require(q.get("mmr") is None, "mmr is not supported by this node")
        nearest = q["nearest"]
        if _is_id(nearest):
            exclude = qe.HasIdCondition({cv.point_id(nearest)})
        return qe.Query.Nearest(query_vector(c, nearest, using), using=using), exclude
    if "recommend" in q:
        r = cv.obj(q["recommend"], "recommend")
        pos_raw, neg_raw = cv.opt_list(r.get("positive"), "positive"), cv.opt_list(r.get("negative"), "negative")
        cv.require(bool(pos_raw) or bool(neg_raw), "recommend needs positive or negative examples")
        ids = [cv.point_id(x) for x in pos_raw + neg_raw if _is_id(x)]
        exclude = qe.HasIdCondition(set(ids)) if ids else None
        pos = [query_vector(c, x, using) for x in pos_raw]
        neg = [query_vector(c, x, using) for x in neg_raw]
        strategy = r.get("strategy") or "average_vector"
        if strategy == "average_vector":
            cv.require(bool(pos), "average_vector needs at least one positive example")
            cv.require(all(isinstance(v, list) and v and not isinstance(v[0], list) for v in pos + neg),
                       "average_vector works on dense vectors")
            avg = [sum(col) / len(pos) for col in zip(*pos)]
            if neg:
                avg_neg = [sum(col) / len(neg) for col in zip(*neg)]
                avg = [a + (a - b) for a, b in zip(avg, avg_neg)]
            return qe.Query.Nearest(avg, using=using), exclude
        rq = qe.RecommendQuery(pos, neg)
        if strategy == "best_score":
            return qe.Query.RecommendBestScore(rq, using=using), exclude
        if strategy == "sum_scores":
            return qe.Query.RecommendSumScores(rq, using=using), exclude
        raise BadInput("recommend strategy must be average_vector, best_score or sum_scores")
    if "fusion" in q:
        cv.require(q["fusion"] in ("rrf", "dbsf"), "fusion must be rrf or dbsf")
        return (qe.Fusion.Rrf(k=2) if q["fusion"] == "rrf" else qe.Fusion.Dbsf()), None
    if "rrf" in q:
        r = cv.obj(q["rrf"], "rrf")
        k = cv.uint(r.get("k"), "rrf.k", 2, minimum=1)
        weights = r.get("weights")
        if weights is not None:
            weights = cv.dense(weights, "rrf.weights")
        return qe.Fusion.Rrf(k=k, weights=weights), None
    if "order_by" in q:
        return _order_by(q["order_by"]), None
    if "sample" in q:
        cv.require(q["sample"] == "random", "sample must be random")
        return qe.Sample.Random, None
    raise BadInput("unsupported query: use a vector, a point id, nearest, recommend, fusion, rrf, "
                   "order_by or sample")




def _order_by(value: Any) -> qe.OrderBy:
    if isinstance(value, str):
        return qe.OrderBy(cv.field_path(value, "order_by"))
    o = cv.obj(value, "order_by")
    key = cv.field_path(o.get("key"), "order_by.key")
    direction = o.get("direction")
    cv.require(direction in (None, "asc", "desc"), "order_by.direction must be asc or desc")
    start = o.get("start_from")
    cv.require(start is None or (isinstance(start, (int, float, str)) and not isinstance(start, bool)),
               "order_by.start_from must be a number or a datetime")
    try:
        return qe.OrderBy(key, direction={"asc": qe.Direction.Asc, "desc": qe.Direction.Desc}.get(direction),
                          start_from=start)
    except ValueError as exc:  # a start_from string that is no RFC 3339 date-time
        raise BadInput(f"order_by.start_from: {exc}") from None
