"""The model's parameters: service times per component kind and the protocol timings it derives
from the spec. Every default names its source.

Protocol settings (health checks, VRRP, Raft, key cache, timeouts) live in the topology spec
(harness/spec.py, sources cited there) because the containers use them too; this module
only adds what the model alone needs: how long each component works on a request and how
many requests it works on at once. `halab calibrate` replaces the service times with ones
fitted from a measured run (a JSON file; see `ModelParams.load`).

    >>> p = ModelParams()
    >>> p.station("rag").servers, p.station("rag").service.mean
    (1, 0.004)
    >>> round(Dist("lognormal", 0.01, 0.5).sampler(random.Random(1))(), 5)
    0.0092
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from harness.kinds import KINDS, Kind
from harness.scenario import FLOWS
from harness.spec import Topology

try:  # vectorised draws when available (simpy's users have it via the lab extras)
    import numpy as np
except ImportError:  # pragma: no cover - the pure-Python batches give the same distributions
    np = None

BATCH = 4096  # draws generated at a time per distribution


@dataclass(frozen=True)
class Dist:
    """A service-time distribution in seconds: "exp" (M/M/c stations), "lognormal" (measured
    service times are right-skewed; fitted by calibrate) or "const"."""

    kind: str
    mean: float
    cv: float = 1.0  # coefficient of variation, std / mean (lognormal only)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A function returning one draw per call, seeded from `rng`.

        Why batches: Python's gauss/expovariate cost about a microsecond a draw, a tenth of
        the time a simulated request may take. Draws come from a list refilled 4096 at a time,
        by numpy's vectorised generator when numpy is installed (it is, with the lab extras)
        and by `rng` otherwise; either way the stream is fixed by the seed.
        """
        if self.kind == "const":
            value = self.mean
            return lambda: value
        batch = self._batch(rng)
        buffer: list[float] = []
        pop = buffer.pop

        def draw() -> float:
            if not buffer:
                buffer.extend(batch())
            return pop()

        return draw

    def _batch(self, rng: random.Random) -> Callable[[], list[float]]:
        n = BATCH
        if self.kind == "exp":
            mean = self.mean
            if np is not None:
                gen = np.random.Generator(np.random.PCG64(rng.getrandbits(64)))
                return lambda: gen.exponential(mean, n).tolist()
            rate, expo = 1.0 / mean, rng.expovariate
            return lambda: [expo(rate) for _ in range(n)]
        if self.kind == "lognormal":
            sigma = math.sqrt(math.log1p(self.cv**2))
            mu = math.log(self.mean) - sigma**2 / 2
            if np is not None:
                gen = np.random.Generator(np.random.PCG64(rng.getrandbits(64)))
                return lambda: gen.lognormal(mu, sigma, n).tolist()
            gauss, exp = rng.gauss, math.exp
            return lambda: [exp(gauss(mu, sigma)) for _ in range(n)]
        raise ValueError(f"unknown distribution {self.kind!r}; known: exp, lognormal, const")


@dataclass(frozen=True)
class StationParams:
    """`servers`: requests worked on at once per replica (worker processes or cores; async
    waits on upstreams hold no server). `service`: work per visit."""

    servers: int
    service: Dist


# Service times per visit. Sources: DESIGN section 5 floors measured on these machines, the
# components' own published figures, or a stated assumption to be replaced by calibrate.
STATIONS: dict[str, StationParams] = {
    # aiohttp reverse proxy: 0.26 ms p50 overhead per proxied call (DESIGN 5); 2 worker processes.
    "gateway": StationParams(2, Dist("lognormal", 0.0004, 0.5)),
    # OPA decision on a small policy: ~0.5 ms over REST (assumption; OPA docs cite sub-ms eval); GOMAXPROCS=2.
    "opa": StationParams(2, Dist("lognormal", 0.0005, 0.5)),
    # rag: embedding + prompt assembly on one uvicorn worker; 4 ms (assumption: hashing embedder, not MiniLM).
    "rag": StationParams(1, Dist("lognormal", 0.004, 0.5)),
    # cms: validate + two writes' client work, one uvicorn worker (assumption).
    "cms": StationParams(1, Dist("lognormal", 0.001, 0.5)),
    # policy_sync -> OPA: a bundle of one small Rego module downloaded and activated, ~5 ms (assumption).
    "policy_sync": StationParams(1, Dist("lognormal", 0.005, 0.5)),
    # etcd put: 0.83 ms p50 through python-etcd3 (DESIGN 5); the apply loop is serial.
    "etcd": StationParams(1, Dist("lognormal", 0.0009, 0.5)),
    # OpenBao KV read: ~1 ms (assumption), handled concurrently.
    "vault": StationParams(4, Dist("lognormal", 0.001, 0.5)),
    # qdrant-edge: 100 filtered kNN queries in 0.23 s in one process (DESIGN 5) -> 2.3 ms; 2 cores.
    "vectordb": StationParams(2, Dist("lognormal", 0.0023, 0.5)),
    # Managed MongoDB ("Atlas"): ~2 ms server time per find/insert (assumption), a large pool.
    "mongo": StationParams(64, Dist("lognormal", 0.002, 0.7)),
    # Its writes (the CMS's pending claim and active flip), fitted apart from the reads: the
    # lab's FerretDB took 83 / 59 ms per write against 32 ms per read (calibrated baseline,
    # 2026-12-04), and one mixed fit, dominated by RAG's many reads, made policy updates
    # 23-58 % too fast. Not a component: the writes' service time on the mongo station.
    "mongo_write": StationParams(64, Dist("lognormal", 0.002, 0.7)),
    # The LLM stub's latency model: 250 ms mean, right-skewed (assumption; a real LLM API takes
    # seconds -- calibrate against it, or pass --params). An API: effectively unbounded concurrency.
    "llm": StationParams(512, Dist("lognormal", 0.25, 0.5)),
}

# One network hop inside a site (Docker bridge / same rack): ~0.1 ms one-way (assumption).
INTRA_SITE_HOP_S = 0.0001
# HAProxy's own work per request: ~50 us (HAProxy publishes ~100k req/s per core) -- a pure delay.
LB_S = 0.00005
# How often the gateway retries a failed key refresh (assumption; the gateway's backoff).
KEY_RETRY_S = 1.0
# etcd's work to refuse a write it cannot take: with require-leader a member that knows no
# leader answers UNAVAILABLE "no leader" from its gRPC interceptor, before raft (etcd
# server/etcdserver/api/v3rpc/interceptor.go), so no more than a put's own work, 0.83 ms p50
# through python-etcd3 (DESIGN 5). Measured end to end on dc2-down (seed, 2026-12-03): the
# CMS's 503 came 0.06-0.35 s after the request (an update that succeeds takes ~0.2 s), never
# near the 5 s deadline: the refusal itself is lost in the CMS's MongoDB calls around it.
ETCD_REFUSAL_S = 0.001
# Seconds from a healed fault to a restarted component answering healthy: measured 2026-12-03
# on the seed lab by starting every killed DC2 container at once (`docker start` of the eight
# takes ~2.3 s of it) and polling each one's health; the median of two. OpenBao's includes the
# nemesis's unseal (its health takes a standby, so no election). etcd's health is false
# without a leader, so its 3.2 s measured included the election that the model adds itself
# (simulation/quorum.py: DC1's survivor wins at its next campaign, on average 0.78 s after the
# member is back): the member's own start is 3.2 - 0.8 = 2.4 s. Measured on dc2-down (seed, 3
# runs at 696ca38): etcd's leader back 2.73, 3.09, 2.87 s after the heal began, which 3.2 s
# of start plus an election could not give. The gateway answers at 4.1 s, but HAProxy's
# check asks /readyz, which also needs its routes from etcd (simulation/model.py). A kind not
# listed comes back at once.
STARTUP_S = {"gateway": 4.1, "cms": 5.0, "rag": 6.2, "opa": 3.2, "policy_sync": 4.7, "etcd": 2.4, "vault": 3.6,
             "vectordb": 4.9}
# Seconds from a healed fault to the component's container running again, before its process
# answers: from then on a connection to it is refused (the WAN's liveness follower refuses
# once Docker reports the start; before the follower, Toxiproxy's dial was refused), so a
# health check fails at once instead of at its timeout (simulation/lb.py). `docker start` of
# the eight DC2 containers at once took ~2.3 s at rest. On dc2-down (seed, 3 runs at 696ca38)
# gateway2's checks still timed out when sent 0.9-1.2 s after the heal began (runs 2 and 3:
# their UP marks at 41.69 and 39.64 s follow only so) and failed at once 2.3-2.5 s after (run
# 1: UP at 39.97 s): between the two, 1.7 s.
CONTAINER_START_S = 1.7
# HAProxy's idle keep-alive connections to a gateway that outlive it unnoticed when it dies as
# a blackhole (no FIN or RST reaches HAProxy): at most LB_POOL requests per LB can be sent on
# one, and each waits the server timeout (simulation/lb.py). Not measured directly: 13 is the
# most measured for one death (naive LB, DC2 killed under Locust: 13 queries hung 60 s on
# connections opened before the kill), so a cap that the measurements never exceeded.
LB_POOL = 13
# The chance that a pick of the dead gateway goes out on such a pooled connection rather than
# a new one (which fails its connect within 1 s and is redispatched). Fitted to the recorded
# fidelity runs (tests/simulation/fixtures/fidelity-seed/dc2-down: the naive LB, the harness's
# open-loop driver with one keep-alive client, DC2 blackholed by the nemesis before its kill):
# 4-6 queries hung per run (measured: 3-4 in flight at the kill, 1-2 sent after it to DC2 out
# of ~35), and with this value the model's hung queries there match (5 per run). Per pick, not
# per request: nearly every request in the window picks the dead gateway first in the model
# (its round robin alternates with the retries). A `docker kill` alone lets the dying kernel's
# FIN reach HAProxy first, which drops the connection: 1 such hang in ~6 runs (issue 33); the
# model's faults are the nemesis's blackholes. Locust's many keep-alive users reuse more.
LB_POOL_REUSE = 0.025
# What a connection opened for one request costs before the request goes out, on the hops that
# open one per request: HAProxy to a gateway under `option http-server-close` (simulation/flows.py);
# every other client of the lab keeps a pool (aiohttp, httpx, pymongo, gRPC), whose set-up the
# model leaves out. TCP's connect is one round trip (the SYN and its SYN-ACK; the ACK goes with
# the first bytes: RFC 9293 section 3.5). TLS 1.3's full handshake is one more (RFC 8446 section
# 2: the ClientHello with its key share, the server's flight through Finished; the client's
# Finished goes with the request), and the work of both ends: 1.0 ms, the median TLS connect
# less the median TCP connect over 2 x 2000 connections on 127.0.0.1 (1.08-1.16 ms against
# 0.07 ms) with a certificate from harness/pki.py (ECDSA P-256, server authentication only as
# HAProxy's to a gateway, no session tickets), Python's ssl at both ends on a 2-core host,
# 2026-12-07 (HAProxy's C end may be quicker); `openssl speed` there: P-256 sign 19 us, verify
# 59 us, ECDH 45 us, about 0.3 ms of it. The two ends' halves run one after the other, across a
# link as on one host. Against the recorded TLS runs (tests/simulation/fixtures/fidelity-seed-tls)
# the two round trips (2 ms to a gateway) and the work bring policy_update's p50 before the
# fault from -5.7 % to -2.4 % and its p95 from -9.9 % to -7.3 %; rag_query's p50 during the fault
# goes from +2.0 % to +2.7 %; no metric crosses the goal either way. On the lab itself
# (tests/harness/topology/test_tls_cost_benchmark.py, 2026-12-07, the host dialling gateway2
# through DC1's WAN listener, a 10 ms round trip, mutual TLS): TCP's connect is 0.1 ms, since
# Toxiproxy answers the SYN itself (production pays the round trip; the lab cannot, without
# netem); a TLS connect 12.7 ms p50; a request on a new connection 36.0 ms against 10.1 ms on
# a kept one: 26 ms more, where these defaults charge 21 ms.
TCP_CONNECT_RTTS = 1
TLS_HANDSHAKE_RTTS = 1
TLS_HANDSHAKE_S = 0.001
# A policy document written through OPA's Data API (no compile): 2 ms per document
# (assumption; `halab propagation` fits it from the benchmark's sequential data rows).
DATA_PUT_S = 0.002
# A restart with `cpus` starves the start: DC1's app node took 16.7 and 18.4 s to come back
# at 0.3 cores (issue 33, rolling-restart on seed) against 6.2 s for its slowest component
# unstarved (STARTUP_S["rag"]): start-up times are stretched by this factor. Only 0.3 was measured.
STARVED_START = 2.8

# CPU (simulation/cpu.py). CPU seconds per request of each flow at each kind, {flow: {kind: s}}:
# the cgroup CPU counters of each container over a measured run of one flow, divided by the
# requests completed, summed over the kind's containers (both DCs' gateways, say). "client" is
# the load generator's own (Locust's process), a pseudo-kind; so is any other name no kind of
# the spec has (a lab-only container such as the WAN proxy): the lab's host runs them, a
# production VM does not. Not measured yet: empty, every demand 0, and the model without CPU
# is the model as it was.
CPU_S: dict[str, dict[str, float]] = {}
# Where the cores are: "host", the lab (every container and the load generator share one
# machine's `host_cores`), or "vms", production (each node of the spec its own `node_cores`).
CPU_PLACEMENT = "host"
# The lab's host: this machine's cores, as `os.cpu_count()` reports them (a cgroup-limited CI
# runner may have fewer; pass host_cores in the params file then).
HOST_CORES = os.cpu_count() or 1
# A node's cores in production. harness/spec.py's Node carries no size; 2 vCPUs is an
# assumption (a small cloud VM per node, as the 2-core lab host): replace with the VMs' size.
NODE_CORES = 2

# Service times in STATIONS that are no kind's: the mongo station's writes.
NOT_KINDS = frozenset({"mongo_write"})


def gaps(table: Mapping[str, Kind] = KINDS) -> list[str]:
    """What STATIONS and STARTUP_S lack for the kinds of `table` (harness/kinds.py), and what they
    name that it lacks, one line each. Every kind but the LB's is a station (HAProxy's work is
    LB_S, a delay); the DCs' own processes (app and data tiers) take a while to start after a
    fault heals, and a managed service or the LB pair is back at once."""
    out = [f"kind {k.name!r} has no service time: add it to STATIONS in simulation/params.py"
           for k in table.values() if k.tier != "lb" and k.name not in STATIONS]
    out += [f"kind {k.name!r} has no start-up time: add it to STARTUP_S in simulation/params.py"
            for k in table.values() if k.tier in ("app", "data") and k.name not in STARTUP_S]
    out += [f"{where} names {name!r}, no kind of harness/kinds.py" for where, names in
            (("STATIONS", set(STATIONS) - NOT_KINDS), ("STARTUP_S", set(STARTUP_S))) for name in sorted(names - set(table))]
    return out


@dataclass(frozen=True)
class ModelParams:
    """Service-time side of the model. Files written by `halab calibrate` override `stations`."""

    stations: dict[str, StationParams] = field(default_factory=lambda: dict(STATIONS))
    intra_hop_s: float = INTRA_SITE_HOP_S
    lb_s: float = LB_S
    key_retry_s: float = KEY_RETRY_S
    etcd_refusal_s: float = ETCD_REFUSAL_S
    # OPA parses and compiles every policy of the bundle on each activation, so the
    # policy_sync station's service (measured with one policy loaded) grows with the policies
    # loaded, as the curve ((policies, seconds), ...) measured by tests/system/policy_sync's
    # propagation benchmark says (interpolated; empty: no growth).
    policies: int = 1
    put_curve: tuple[tuple[int, float], ...] = ()
    data_put_s: float = DATA_PUT_S
    startup_s: dict[str, float] = field(default_factory=lambda: dict(STARTUP_S))
    container_start_s: float = CONTAINER_START_S
    lb_pool: int = LB_POOL
    lb_pool_reuse: float = LB_POOL_REUSE
    starved_start: float = STARVED_START
    tcp_connect_rtts: int = TCP_CONNECT_RTTS
    tls_handshake_rtts: int = TLS_HANDSHAKE_RTTS
    tls_handshake_s: float = TLS_HANDSHAKE_S
    # CPU demand and its placement: CPU_S, CPU_PLACEMENT, HOST_CORES and NODE_CORES above.
    cpu_s: dict[str, dict[str, float]] = field(default_factory=lambda: {f: dict(d) for f, d in CPU_S.items()})
    cpu: str = CPU_PLACEMENT
    host_cores: int = HOST_CORES
    node_cores: int = NODE_CORES

    def put_scale(self) -> float:
        """An activation's cost at `policies` loaded over its cost at one."""
        curve = sorted(self.put_curve)
        if len(curve) < 2:
            return 1.0

        def at(n: float) -> float:  # linear between the points, flat past either end
            for (n0, t0), (n1, t1) in zip(curve, curve[1:]):
                if n <= n1:
                    return t0 if n <= n0 else t0 + (t1 - t0) * (n - n0) / (n1 - n0)
            return curve[-1][1]

        return at(self.policies) / at(1) if at(1) > 0 else 1.0

    source: str = "defaults"

    def station(self, kind: str) -> StationParams:
        try:
            return self.stations[kind]
        except KeyError:
            raise KeyError(f"no service time for kind {kind!r}: add it to STATIONS in simulation/params.py") from None

    def with_station(self, kind: str, **changes) -> ModelParams:
        stations = dict(self.stations)
        stations[kind] = replace(stations[kind], **changes)
        return replace(self, stations=stations)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: str | Path) -> ModelParams:
        """Defaults overlaid with a JSON file: {"stations": {"rag": {"servers": 1,
        "service": {"kind": "lognormal", "mean": 0.004, "cv": 0.5}}, ...}, "cpu_s": {"rag_query":
        {"gateway": 0.002, "rag": 0.006, "client": 0.004}}, "cpu": "host", "host_cores": 2}."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        stations = dict(STATIONS)
        for kind, sp in data.get("stations", {}).items():
            base = stations.get(kind, StationParams(1, Dist("const", 0.0)))
            service = Dist(**sp["service"]) if "service" in sp else base.service
            stations[kind] = StationParams(int(sp.get("servers", base.servers)), service)
        scalars = {k: data[k] for k in ("policies", "lb_pool", "lb_pool_reuse", "starved_start",
                                         "container_start_s", "tcp_connect_rtts", "tls_handshake_rtts", "tls_handshake_s",
                                         "data_put_s") if k in data}
        if "put_curve" in data:
            scalars["put_curve"] = tuple((int(n), float(t)) for n, t in data["put_curve"])
        if "startup_s" in data:
            scalars["startup_s"] = {**STARTUP_S, **{k: float(v) for k, v in data["startup_s"].items()}}
        scalars.update(_cpu(data, path))
        return cls(stations=stations, source=str(path), **scalars)


def _cpu(data: dict, path: str | Path) -> dict:
    """The CPU entries of a params file, checked: flows the model has, seconds >= 0, a known placement."""
    out: dict = {}
    raw = data.get("cpu_s", {})
    if not isinstance(raw, dict) or not all(isinstance(d, dict) for d in raw.values()):
        raise ValueError(f"{path}: cpu_s must map flow -> kind -> CPU seconds per request")
    if unknown := sorted(set(raw) - set(FLOWS)):
        raise ValueError(f"{path}: cpu_s names unknown flow(s) {', '.join(unknown)}; known: {', '.join(FLOWS)}")
    if raw:
        out["cpu_s"] = {f: {k: float(v) for k, v in d.items()} for f, d in raw.items()}
        if any(v < 0 for d in out["cpu_s"].values() for v in d.values()):
            raise ValueError(f"{path}: cpu_s has a negative demand")
    if "cpu" in data:
        if data["cpu"] not in ("host", "vms"):
            raise ValueError(f"{path}: cpu must be host or vms, not {data['cpu']!r}")
        out["cpu"] = data["cpu"]
    for key in ("host_cores", "node_cores"):
        if key in data:
            if int(data[key]) < 1:
                raise ValueError(f"{path}: {key} must be >= 1")
            out[key] = int(data[key])
    return out


@dataclass(frozen=True)
class Timings:
    """Protocol timings in seconds, derived from the spec's parameters."""

    check_inter_s: float
    check_timeout_s: float
    check_fastinter_s: float  # between checks while a server is going down or coming up
    fall: int
    rise: int
    vrrp_failover_s: float
    etcd_election_s: float
    bao_election_s: float
    etcd_step_down_s: float
    bao_step_down_s: float


def timings(topo: Topology) -> Timings:
    p = topo.params
    return Timings(
        check_inter_s=p.health.inter_s,
        # HAProxy: without `timeout check` (the naive LB), `inter` is the whole check's timeout
        # (configuration manual, "timeout check"); with it, a check connects within
        # min(timeout connect, inter). Measured on the naive LB: DC2 down detected after 10.1-10.9 s.
        check_timeout_s=p.health.check_timeout_s(p.timeouts.connect_s),
        check_fastinter_s=p.health.inter_s if p.health.fastinter_s is None else p.health.fastinter_s,
        fall=p.health.fall,
        rise=p.health.rise,
        # keepalived / RFC 5798: master down interval = 3 * advert + (256 - priority) / 256 * advert.
        vrrp_failover_s=p.vrrp.failover_s(),
        # etcd raft: a follower campaigns after a randomised timeout in [election, 2 * election).
        etcd_election_s=p.etcd.election_ms / 1000.0,
        # hashicorp/raft ElectionTimeout 1 s x performance_multiplier (OpenBao default 5).
        bao_election_s=p.bao.election_s,
        # A live leader cut off from its majority steps down once a check finds it so: etcd's
        # CheckQuorum every election timeout, hashicorp/raft's leader lease (0.5 s x multiplier).
        # Measured on dc2-down: etcd's leader gone 2.5 s after the kill, OpenBao's 3.5 s.
        etcd_step_down_s=p.etcd.election_ms / 1000.0,
        bao_step_down_s=p.bao.lease_s,
    )
