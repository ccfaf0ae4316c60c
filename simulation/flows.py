"""The user flows of DESIGN section 1 as SimPy processes.

RAG query (14 steps): 1 user -> LB, 2 LB -> gateway (key-auth), 3 gateway -> OPA (authorise),
4 gateway -> rag, 5 rag -> MongoDB (profile, document metadata), 6 rag embeds the query,
7 rag -> vector DB (context), 8 rag -> gateway hairpin with the enriched prompt (the other
DC's gateway if the local one answers 502/503, as system/rag does), 9 gateway
-> Vault for the LLM key (or its key cache), 10 gateway -> LLM API, 11 LLM -> gateway,
12 gateway -> rag, 13 rag -> gateway, 14 gateway -> LB -> user.

Policy update (9 steps): 1 admin -> LB, 2 LB -> gateway, 3 gateway -> OPA, 4 gateway -> cms,
5 cms -> MongoDB (metadata), 6 cms -> etcd (raw Rego, needs quorum), 7 cms -> gateway ->
user ("update successful"), then asynchronously 8 etcd watch -> policy_sync, 9 policy_sync ->
OPA (loaded). Steps 8-9 are in simulation/policy.py.

RAG ingest (how the corpus gets in; share 0 in the default mix): steps 1-3, rag chunks and
embeds, the vector DB upserts with Qdrant's write consistency.

Why the code looks the way it does: a process yields only where a request *arrives at a
queueing station* (gateway, OPA, rag, vector DB, cms, etcd leader), because a station must
see arrivals in time order (simulation/components.py). Everything between two such arrivals
-- network hops, MongoDB and the LLM API (high-concurrency services: delays, M/G/inf) -- is
summed into one timeout. Failures are computed, not waited for: a refused or timed-out call
records its outcome at the time it would end. `m.changes` counts fault changes; while it is
unchanged nothing on the path can have broken, so the checks below cost one comparison.
With CPU demand (simulation/cpu.py) a station's visit is a process the flow yields through
instead, since its end waits on cores that other stations share.
"""

from __future__ import annotations

from harness.kinds import KINDS
from harness.scenario import POLICY_UPDATE, RAG_INGEST, RAG_QUERY
from simulation import cpu
from simulation.components import Station
from simulation.quorum import COMMIT, NO_LEADER, STEPPING_DOWN

OK, FAIL, INFO = "ok", "fail", "info"
# HAProxy dials a gateway's main port; whether that is TLS is the kind table's to say.
_GATEWAY_TLS = next(iter(KINDS["gateway"].ports)) in KINDS["gateway"].tls


def _first_reachable(m, site: str, stations: list[Station]) -> tuple[Station | None, float]:
    """The first live, reachable station in preference order, and the connect timeouts spent
    on the ones before it (a dead peer is a blackhole: the connect times out)."""
    lost = 0.0
    for st in stations:
        if st.up and m.net.reachable(site, st.site):
            return st, lost
        lost += m.connect_s
    return None, lost


def _enter(m, avoid: Station | None = None, retries: int | None = None):
    """Steps 1-2: the VIP, HAProxy's pick (`avoid`, `retries`: a redispatched request's, see
    HAProxy.route). Returns (lb, gateway, time lost, sent on a dead pooled connection, error)."""
    lb = m.vrrp.master
    if lb is None:
        return None, None, m.connect_s, False, "no-vip"
    gw, lost, pooled = m.haproxy[lb.name].route(avoid, retries)
    if gw is None:
        return lb, None, lost, False, "no-server"
    return lb, gw, lost, pooled, None


def _connect_s(m, a: str, b: str) -> float:
    """Setting up the connection HAProxy in site `a` opens to a gateway in `b` for one request
    under `option http-server-close` (nothing to set up on a kept-alive one): TCP's connect and,
    over TLS, the handshake (params.TLS_HANDSHAKE_S). The mean round trip, not a draw: a draw
    would shift every later draw of the network's stream, and the jitter's share is small."""
    if not m.topo.params.lb.server_close:
        return 0.0
    p = m.params
    rtts = p.tcp_connect_rtts + (p.tls_handshake_rtts if _GATEWAY_TLS else 0)
    return rtts * m.net.mean_rtt(a, b) + (p.tls_handshake_s if _GATEWAY_TLS else 0.0)


def _broken(m, lb: Station, gw: Station, gw_epoch: int, held: Station | None, held_epoch: int) -> str | None:
    """After a fault change: is this request's path still there?"""
    if not lb.up:
        return "connection-lost"
    if not gw.up or gw.epoch != gw_epoch or not m.net.reachable(lb.site, gw.site):
        return "gateway-lost"
    if held is not None and (not held.up or held.epoch != held_epoch or not m.net.reachable(gw.site, held.site)):
        return "upstream-lost"
    return None


class Front:
    """Where a request stands after steps 1-3 (VIP, gateway, OPA). `sent`: when HAProxy sent
    it to the gateway (its server timeout runs from then); `retries`: HAProxy's retries left."""

    __slots__ = ("lb", "gw", "gw_ep", "site", "view", "end", "steps", "sent", "retries")

    def __init__(self, lb, gw, gw_ep, site, view, end, steps, sent, retries) -> None:
        self.lb, self.gw, self.gw_ep, self.site, self.view, self.end, self.steps = lb, gw, gw_ep, site, view, end, steps
        self.sent, self.retries = sent, retries


def _cut(m, rid: int, f: str, t0: float, e: str, site: str, gw: Station, sent: float, retries: int,
         value=None):
    """A request whose path broke under it (`_broken`'s `e`). A gateway that died or went dark
    answers nothing and sends no reset (DESIGN section 5: a blackhole): HAProxy waits its
    server timeout from `sent` -- the flow timeout, tuned; `timeout server`, 60 s, naive --
    and answers 504 (`info`). A read is sent again instead (`retry-on response-timeout`, a
    retry left of `retries`), redispatched to another gateway (`option redispatch`), its
    latency still counted from `t0`: measured on the tuned lab (dc2-down, 3 runs), each of the
    8 queries in flight to DC2 at the kill was answered by DC1 6.7-6.9 s after its start (a
    6 s flow timeout and a query). Anything else the request held (LB, rag, ...) ends it as
    before: unknown, at the user's request timeout."""
    if e != "gateway-lost":
        m.done(rid, f, t0, t0 + m.request_s, INFO, site, e, value=value)
        return
    timed_out = max(sent + m.flow_timeout_s, m.env.now)
    if not (m.retry_reads and f == RAG_QUERY and retries > 0):
        m.done(rid, f, t0, timed_out, INFO, site, e, value=value)
        return
    yield m.env.timeout(timed_out - m.env.now)
    m.release(site, m.env.now)  # HAProxy gives the dead gateway's session up
    yield from rag_query(m, rid, t0, avoid=gw, retries=retries - 1)


def _front(m, rid: int, f: str, t0: float, ch: int, avoid: Station | None = None, retries: int | None = None):
    """Steps 1-3 of every flow: the VIP and HAProxy, the gateway (key-auth, route), OPA
    (fail closed). Returns a Front, or None when the request already ended. `avoid`,
    `retries`: a retried request's (`_cut`)."""
    env, net = m.env, m.net
    retries = m.retries if retries is None else retries
    if m.cpu is not None and avoid is None:  # the load generator's work before it sends (a retry is HAProxy's)
        yield from cpu.hold(m, f)
    lb, gw, lost, pooled, err = _enter(m, avoid, retries)
    while pooled:
        # Nothing answers on a pooled connection to a dead gateway: HAProxy's server timeout
        # ends it. Only a read is sent again (`retry-on response-timeout`); the rest get 504.
        if not (m.retry_reads and f == RAG_QUERY and retries > 0):
            m.done(rid, f, t0, env.now + lost + m.flow_timeout_s + m.lb_s, INFO, None, "pooled-timeout")
            return None
        yield env.timeout(lost + m.flow_timeout_s)
        retries -= 1
        lb, gw, lost, pooled, err = _enter(m, gw, retries)
    if err:
        m.done(rid, f, t0, env.now + lost, FAIL, None, err)
        return None
    site = gw.site
    m.sessions[site] += 1
    view = m.views[site]
    if view.changes != m.changes:
        m.refresh(view)
    steps = {} if m.record_steps else None
    connect = _connect_s(m, lb.site, site)
    sent = env.now + lost + m.lb_s + connect
    yield env.timeout(lost + m.lb_s + connect + net.hop(lb.site, site))
    gw_ep = gw.epoch
    if m.changes != ch and (e := _broken(m, lb, gw, gw_ep, None, 0)):
        yield from _cut(m, rid, f, t0, e, site, gw, sent, retries)
        return None
    arrive = env.now
    end = gw.visit(arrive) if gw.cpu is None else (yield from cpu.visit(m, gw, f))
    if end < 0:  # its workers all busy past the wait a caller allows (with CPU, cores too short)
        m.done(rid, f, t0, arrive + gw.timeout_s + m.back[site], INFO, site, "gateway-timeout")
        return None
    if steps is not None:
        steps["gateway"] = end - arrive
    opa = view.opa
    if not opa.up:
        m.done(rid, f, t0, end + m.connect_s + m.back[site], FAIL, site, "opa-unavailable")
        return None
    yield env.timeout(end - env.now + net.intra_hop_s)
    arrive = env.now
    end = opa.visit(arrive) if opa.cpu is None else (yield from cpu.visit(m, opa, f))
    if end < 0:
        m.done(rid, f, t0, arrive + opa.timeout_s + m.back[site], INFO, site, "opa-timeout")
        return None
    if steps is not None:
        steps["opa"] = end - arrive + 2 * net.intra_hop_s
    if m.cpu is not None and (f, site) in m.cpu.front:
        yield env.timeout(end - env.now)
        yield from cpu.hold(m, f, site)
        end = env.now
    return Front(lb, gw, gw_ep, site, view, end, steps, sent, retries)


def rag_query(m, rid: int, t0: float | None = None, avoid: Station | None = None, retries: int | None = None):
    """`t0`, `avoid`, `retries`: a query HAProxy sends again (`_cut`)."""
    env, net, ch = m.env, m.net, m.changes
    t0 = env.now if t0 is None else t0
    fr = yield from _front(m, rid, RAG_QUERY, t0, ch, avoid, retries)
    if fr is None:
        return
    lb, gw, gw_ep, site, view, end, steps = fr.lb, fr.gw, fr.gw_ep, fr.site, fr.view, fr.end, fr.steps
    hop, intra = net.hop, net.intra_hop_s
    opa = view.opa
    arrive = env.now
    # 4. gateway -> rag.
    rag = view.rag
    if not rag.up:
        m.done(rid, RAG_QUERY, t0, end + m.connect_s + m.back[site], FAIL, site, "rag-unavailable")
        return
    yield env.timeout(end - arrive + 2 * intra)
    if m.changes != ch and (e := _broken(m, lb, gw, gw_ep, opa, opa.epoch)):
        yield from _cut(m, rid, RAG_QUERY, t0, e, site, gw, fr.sent, fr.retries)
        return
    arrive = env.now
    # 6. rag's own work (embed the query, build the prompt) -- computed on arrival, while the
    # queue order is known. (system/rag reads the profile first, then embeds: same sum.)
    end = rag.visit(arrive) if rag.cpu is None else (yield from cpu.visit(m, rag, RAG_QUERY))
    if end < 0:
        m.done(rid, RAG_QUERY, t0, arrive + rag.timeout_s + m.back[site], INFO, site, "rag-timeout")
        return
    rag_ep = rag.epoch
    # 5. rag -> MongoDB (Atlas): the user's profile now, the documents' metadata after the search.
    if view.changes != m.changes:
        m.refresh(view)
    if not view.mongo_ok:
        m.done(rid, RAG_QUERY, t0, end + m.connect_s + m.back[site] * 2, FAIL, site, "mongo-unavailable")
        return
    profile_s = _mongo_call(m, site)
    t = end + profile_s
    # 7. rag -> vector DB: the local replica, else a remote one.
    vdb, lost = view.vectordb, view.vectordb_lost
    if vdb is None:
        m.done(rid, RAG_QUERY, t0, t + lost + m.back[site] * 2, FAIL, site, "vectordb-unavailable")
        return
    if steps is not None:  # the names system/rag reports in timings_ms
        steps["embed"] = end - arrive
        steps["profile"] = profile_s
    yield env.timeout(t + lost + hop(site, vdb.site) - env.now)
    if m.changes != ch and (e := _broken(m, lb, gw, gw_ep, rag, rag_ep)):
        yield from _cut(m, rid, RAG_QUERY, t0, e, site, gw, fr.sent, fr.retries)
        return
    arrive = env.now
    end = vdb.visit(arrive) if vdb.cpu is None else (yield from cpu.visit(m, vdb, RAG_QUERY))
    if end < 0 or not vdb.up:
        m.done(rid, RAG_QUERY, t0, arrive + m.upstream_s + m.back[site] * 2, INFO, site, "vectordb-timeout")
        return
    vdb_ep = vdb.epoch
    end += hop(vdb.site, site)
    if m.changes != ch:
        m.refresh(view)
    if not view.mongo_ok:
        m.done(rid, RAG_QUERY, t0, end + m.connect_s + m.back[site] * 2, FAIL, site, "mongo-unavailable")
        return
    metadata_s = _mongo_call(m, site)
    if steps is not None:
        steps["search"] = end - arrive + net.mean_rtt(site, vdb.site) / 2
        steps["metadata"] = metadata_s
    # 8. the hairpin: rag -> gateway with the enriched prompt.
    yield env.timeout(end + metadata_s + intra - env.now)
    if m.changes != ch and (
        (e := _broken(m, lb, gw, gw_ep, rag, rag_ep)) or (e := _broken(m, lb, gw, gw_ep, vdb, vdb_ep))
    ):
        yield from _cut(m, rid, RAG_QUERY, t0, e, site, gw, fr.sent, fr.retries)
        return
    arrive = env.now
    end = gw.visit(arrive) if gw.cpu is None else (yield from cpu.visit(m, gw, RAG_QUERY))
    if end < 0:
        m.done(rid, RAG_QUERY, t0, arrive + gw.timeout_s + m.back[site] * 2, INFO, site, "gateway-timeout")
        return
    # 9-11. the key and the LLM through the local gateway; if it answers 502/503 (no key, no
    # LLM) rag retries through the other DC's gateway (system/rag/llm.py's hairpin failover).
    hairpin = gw
    t, e, outcome = yield from _llm_through(m, gw, end, steps)
    if outcome == FAIL and (alt := m.other_gateway(site)) is not None:
        yield env.timeout(t - env.now + intra + hop(site, alt.site))
        hairpin = alt
        arrive = env.now
        end = alt.visit(arrive) if alt.cpu is None else (yield from cpu.visit(m, alt, RAG_QUERY))
        if end < 0:
            m.done(rid, RAG_QUERY, t0, arrive + alt.timeout_s + m.back[site] * 2, INFO, site, "gateway-timeout")
            return
        t, e, outcome = yield from _llm_through(m, alt, end, steps)
    if e is not None:
        m.done(rid, RAG_QUERY, t0, t + hop(hairpin.site, site) + m.back[site] * 3, outcome, site, e)
        return
    # 12-14. the answer flows back: gateway -> rag -> gateway -> LB -> user.
    t_end = t + hop(hairpin.site, site) + intra + hop(site, lb.site) + m.lb_s
    if t_end >= m.next_change(env.now):
        # A fault is scheduled before this answer arrives: wait for it and check the path.
        yield env.timeout(t_end - env.now)
        if m.changes != ch and (e := _broken(m, lb, gw, gw_ep, rag, rag_ep)):
            yield from _cut(m, rid, RAG_QUERY, t0, e, site, gw, fr.sent, fr.retries)
            return
    m.done(rid, RAG_QUERY, t0, t_end, OK, site, None, steps)


def _mongo_call(m, site: str, write: bool = False) -> float:
    """One round trip to MongoDB (Atlas) from `site`: a delay (a managed service's large pool);
    a write's service time is its own (params "mongo_write")."""
    service = m.mongo_write() if write else m.mongo.draw()
    m.mongo.busy += service
    return m.net.rtt(site, m.mongo.site) + service


def _llm_through(m, gw: Station, end: float, steps: dict | None):
    """Steps 9-11 at one gateway whose own work ends at `end`: the LLM key from its cache (or
    from Vault on every call when the TTL is 0), then the LLM API. Returns (time, None, OK)
    with the time the answer is back at the gateway, or (time, error, FAIL|INFO)."""
    env, net = m.env, m.net
    site = gw.site
    view = m.views[site]
    if view.changes != m.changes:
        m.refresh(view)
    if m.key_ttl_s > 0:
        if not m.keys[gw.name].usable(end):
            return end, "no-llm-key", FAIL
    else:
        vault, lost = _first_reachable(m, site, view.vaults)
        if vault is None:
            return end + lost, "vault-unavailable", FAIL
        yield env.timeout(end - env.now + lost + net.hop(site, vault.site))
        arrive = env.now
        end = vault.visit(arrive) if vault.cpu is None else (yield from cpu.visit(m, vault, RAG_QUERY))
        if end < 0:
            return arrive + vault.timeout_s, "vault-timeout", INFO
        end += net.hop(vault.site, site)
        if steps is not None:
            steps["vault"] = end - arrive
    if not view.llm_ok:
        return end + m.connect_s, "llm-unavailable", FAIL
    llm = m.llm
    think = llm.draw()
    llm.busy += think
    if think > m.llm_s:
        return end + m.llm_s, "llm-timeout", INFO
    llm_s = net.rtt(site, llm.site) + think
    if steps is not None:
        steps["llm"] = llm_s
    return end + llm_s, None, OK


def policy_update(m, rid: int):
    env, net, t0, ch = m.env, m.net, m.env.now, m.changes
    fr = yield from _front(m, rid, POLICY_UPDATE, t0, ch)
    if fr is None:
        return
    lb, gw, gw_ep, site, view, end, steps = fr.lb, fr.gw, fr.gw_ep, fr.site, fr.view, fr.end, fr.steps
    hop, intra = net.hop, net.intra_hop_s
    arrive = env.now
    # 4. gateway -> cms.
    cms = view.cms
    if not cms.up:
        m.done(rid, POLICY_UPDATE, t0, end + m.connect_s + m.back[site], FAIL, site, "cms-unavailable")
        return
    yield env.timeout(end - arrive + 2 * intra)
    if m.changes != ch and (e := _broken(m, lb, gw, gw_ep, None, 0)):
        yield from _cut(m, rid, POLICY_UPDATE, t0, e, site, gw, fr.sent, fr.retries)
        return
    arrive = env.now
    end = cms.visit(arrive) if cms.cpu is None else (yield from cpu.visit(m, cms, POLICY_UPDATE))
    if end < 0:
        m.done(rid, POLICY_UPDATE, t0, arrive + cms.timeout_s + m.back[site], INFO, site, "cms-timeout")
        return
    cms_ep = cms.epoch
    # 5. cms validates the Rego with OPA (compile), reads the metadata and claims the next
    # version in MongoDB ("pending"), as system/cms does; etcd next, then "active".
    if view.changes != m.changes:
        m.refresh(view)
    if not view.opa.up:
        m.done(rid, POLICY_UPDATE, t0, end + m.connect_s + m.back[site] * 2, FAIL, site, "opa-unavailable")
        return
    # The CMS's check is a REST PUT into OPA (a compile of every module, like an activation, but rare).
    compile_s = 2 * intra + view.policy_sync.draw()
    if not view.mongo_ok:
        m.done(rid, POLICY_UPDATE, t0, end + compile_s + m.connect_s + m.back[site] * 2, FAIL, site, "mongo-unavailable")
        return
    read_s, pending_s = _mongo_call(m, site), _mongo_call(m, site, write=True)
    t = end + compile_s + read_s + pending_s
    if steps is not None:  # the names system/cms reports in Server-Timing
        steps["cms"] = end - arrive
        steps["opa_compile"] = compile_s
        steps["mongo_read"] = read_s
        steps["mongo_pending"] = pending_s
    # 6. cms -> etcd: the raw policy; the leader applies it, a majority acknowledges it. A write
    # etcd cannot commit ends as its member answers it (RaftGroup.write_answer).
    etcd = m.etcd
    answer, via = etcd.write_answer(site)
    if answer != COMMIT:
        _etcd_uncommitted(m, rid, t0, site, t, answer, via)
        return
    leader = etcd.leader
    # A follower forwards the put to the leader: one more hop there and back.
    to_leader = hop(site, via.site) + (hop(via.site, leader.site) if via is not leader else 0.0)
    yield env.timeout(t + to_leader - env.now)
    if m.changes != ch and (e := _broken(m, lb, gw, gw_ep, cms, cms_ep)):
        yield from _cut(m, rid, POLICY_UPDATE, t0, e, site, gw, fr.sent, fr.retries)
        return
    if etcd.leader is None:  # lost on the way: the member knows it by now and refuses
        _etcd_uncommitted(m, rid, t0, site, env.now - to_leader, NO_LEADER, via)
        return
    if etcd.leader is not leader:  # a new leader meanwhile: "leader changed", unknown
        m.done(rid, POLICY_UPDATE, t0, env.now + m.upstream_s, INFO, site, "etcd-leader-lost")
        return
    arrive = env.now
    end = leader.visit(arrive) if leader.cpu is None else (yield from cpu.visit(m, leader, POLICY_UPDATE))
    if end < 0:
        m.done(rid, POLICY_UPDATE, t0, arrive + leader.timeout_s + m.back[site] * 2, INFO, site, "etcd-timeout")
        return
    committed = end + etcd.commit_rtt
    revision = m.policy.commit(committed, leader)
    back = (hop(leader.site, via.site) if via is not leader else 0.0) + hop(via.site, site)
    active_s = _mongo_call(m, site, write=True)
    if steps is not None:
        steps["etcd_txn"] = committed - arrive + back + to_leader
        steps["mongo_active"] = active_s
    # 7. "update successful" once the metadata is active -- before any OPA has loaded it.
    t_end = committed + back + active_s + 2 * intra + hop(site, lb.site) + m.lb_s
    if t_end >= m.next_change(env.now):
        yield env.timeout(t_end - env.now)
        if m.changes != ch and (e := _broken(m, lb, gw, gw_ep, cms, cms_ep)):
            # The write committed but the answer was lost: the client cannot know -- `info`.
            yield from _cut(m, rid, POLICY_UPDATE, t0, e, site, gw, fr.sent, fr.retries, {"revision": revision})
            return
    m.done(rid, POLICY_UPDATE, t0, t_end, OK, site, None, steps, value={"revision": revision})


def _etcd_uncommitted(m, rid: int, t0: float, site: str, t: float, answer: str, via: Station | None) -> None:
    """Step 6 when etcd cannot commit, from `t` when the CMS sends the txn: the pending record
    is already in MongoDB. Refused ("no leader"): certainly not applied, so the CMS rolls the
    record back (a read and two writes, PolicyService.rollback) and answers 503 -- `fail`.
    Held: the CMS answers 503 "unknown" when etcd gives up (a cut-off leader's step-down) or
    at its deadline, the record left to the reconciler (the dual-write gap) -- `info`."""
    back = m.back[site] * 2
    if answer == NO_LEADER:
        refused = t + m.net.rtt(site, via.site) + m.params.etcd_refusal_s
        rollback = _mongo_call(m, site) + _mongo_call(m, site, write=True) + _mongo_call(m, site, write=True)
        m.done(rid, POLICY_UPDATE, t0, refused + rollback + back, FAIL, site, "etcd-no-leader")
        return
    deadline = t + m.upstream_s
    if answer == STEPPING_DOWN:
        end = min(deadline, max(t, m.etcd.step_down_at) + m.net.hop(via.site, site))
        m.done(rid, POLICY_UPDATE, t0, end + back, INFO, site, "etcd-leader-lost")
        return
    m.done(rid, POLICY_UPDATE, t0, deadline + back, INFO, site, "etcd-no-quorum")


def rag_ingest(m, rid: int):
    """Ingest a document: steps 1-3, rag chunks and embeds it, upserts it into the local vector
    replica (else a remote one), which acknowledges once `write_consistency` replicas hold it
    (Qdrant's write_consistency_factor): with 1 a DC outage costs nothing, with 2 on two
    replicas every write during it times out."""
    env, net, t0, ch = m.env, m.net, m.env.now, m.changes
    fr = yield from _front(m, rid, RAG_INGEST, t0, ch)
    if fr is None:
        return
    lb, gw, gw_ep, site, view, end, steps = fr.lb, fr.gw, fr.gw_ep, fr.site, fr.view, fr.end, fr.steps
    intra = net.intra_hop_s
    rag = view.rag
    if not rag.up:
        m.done(rid, RAG_INGEST, t0, end + m.connect_s + m.back[site], FAIL, site, "rag-unavailable")
        return
    yield env.timeout(end - env.now + 2 * intra)
    arrive = env.now
    end = rag.visit(arrive) if rag.cpu is None else (yield from cpu.visit(m, rag, RAG_INGEST))
    if end < 0:
        m.done(rid, RAG_INGEST, t0, arrive + rag.timeout_s + m.back[site], INFO, site, "rag-timeout")
        return
    rag_ep = rag.epoch
    if view.changes != m.changes:
        m.refresh(view)
    vdb, lost = view.vectordb, view.vectordb_lost
    if vdb is None:
        m.done(rid, RAG_INGEST, t0, end + lost + m.back[site] * 2, FAIL, site, "vectordb-unavailable")
        return
    yield env.timeout(end + lost + net.hop(site, vdb.site) - env.now)
    if m.changes != ch and (e := _broken(m, lb, gw, gw_ep, rag, rag_ep)):
        yield from _cut(m, rid, RAG_INGEST, t0, e, site, gw, fr.sent, fr.retries)
        return
    arrive = env.now
    end = vdb.visit(arrive) if vdb.cpu is None else (yield from cpu.visit(m, vdb, RAG_INGEST))
    if end < 0 or not vdb.up:
        m.done(rid, RAG_INGEST, t0, arrive + m.upstream_s + m.back[site] * 2, INFO, site, "vectordb-timeout")
        return
    # The other replicas the primary reaches, nearest first; the ack waits for k - 1 of them.
    k = m.topo.params.vector.write_consistency
    if k > 1:
        peers = sorted(net.rtt(vdb.site, p.site) + p.draw() for p in m.vector_nodes
                       if p is not vdb and p.up and net.reachable(vdb.site, p.site))
        if len(peers) < k - 1:
            # The primary waits for acks that never come: the client's deadline ends it, unknown.
            m.done(rid, RAG_INGEST, t0, arrive + m.upstream_s + m.back[site] * 2, INFO, site, "vector-consistency")
            return
        end += peers[k - 2]
    t_end = end + net.hop(vdb.site, site) + 2 * intra + net.hop(site, lb.site) + m.lb_s
    if t_end >= m.next_change(env.now):
        yield env.timeout(t_end - env.now)
        if m.changes != ch and (e := _broken(m, lb, gw, gw_ep, rag, rag_ep)):
            yield from _cut(m, rid, RAG_INGEST, t0, e, site, gw, fr.sent, fr.retries)
            return
    m.done(rid, RAG_INGEST, t0, t_end, OK, site, None, steps)


FLOWS = {RAG_QUERY: rag_query, POLICY_UPDATE: policy_update, RAG_INGEST: rag_ingest}
