"""Realise a spec as containers: `up` starts and seeds a topology, `down` removes it.

Example (starts a lab, so not a doctest)::

    lab = up(preset("seed"))
    lab.state.vip_url                            # 'https://127.0.0.1:49153' (trust lab.state.ca_file)
    lab.wan.cut("dc1", "dc2"); lab.wan.heal()
    down(lab.run_id)

Phases, each waiting for health before the next (a failure removes everything started); `up`
calls one function per phase, in this order:
  0. images (`_images`): every image the run needs is present, before anything starts;
  1. networks (`_networks`): one internal network per site, the publish network, the VIP's
     address; the run's generated secrets (LLM key, LLM admin token, consumers' API keys);
  2. WAN (`_wan`): the multi-homed Toxiproxy container, then every proxy of wan.wan_routes;
  3. everything but the gateways, in parallel (`_starts`: data nodes, Atlas, LLM, app
     services, LBs, ingress): each container is ready on its own health signal;
  4. etcd's cluster health; OpenBao init, unseal, Raft joins, KV + LLM key + AppRole (`_bootstrap`);
  5. the gateways (`_gateways`; they need their AppRole credentials), then every start of 3-5
     is waited for;
  6. the state file (`_state`), then seeding (`_seed`, seeding.py) and one RAG query through
     the VIP.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets as pysecrets
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

import harness.topology.etcd_tls as etcd_tls
import harness.topology.liveness as liveness
import harness.topology.seeding as seeding
import harness.topology.state as st
import harness.topology.trust as trust
from harness.containers.base import HalabContainer
from harness.kinds import KINDS
from harness.labels import new_run_id
from harness.pki import CA_CERT, CLIENT, LabCa
from harness.spec import Topology
from harness.topology.bao import BaoCluster, BaoSecrets
from harness.topology.components import RECIPES, Context
from harness.topology.components import ingress as ingress_recipe
from harness.topology.components import prometheus as prometheus_recipe
from harness.topology.components import toxiproxy as wan_recipe
from harness.topology.networks import create_publish_network, create_site_networks, free_high_address
from harness.topology.plan import Plan
from harness.topology.settings import TopologySettings
from harness.topology.sources import resolver
from harness.topology.teardown import remove_all
from harness.topology.wan import Route, wan_routes
from harness.topology.wanlink import WanLink
from harness.waiting import eventually

log = logging.getLogger(__name__)
LATE_KINDS = tuple(k.name for k in KINDS.values() if k.starts_late)  # need OpenBao credentials


class StartupError(RuntimeError):
    pass


@dataclass
class Running:
    """A started, seeded topology held by the process that started it (secrets in memory): the
    harness.topology.lab.Lab that the nemesis, the observers and the load are given."""

    plan: Plan
    routes: tuple[Route, ...]
    state: st.State
    state_file: Path
    containers: dict[str, HalabContainer]
    wan: WanLink
    bao: BaoSecrets
    consumers: dict[str, str] = field(default_factory=dict)  # username -> API key

    @property
    def run_id(self) -> str:
        return self.plan.run_id

    @functools.cached_property
    def docker(self):
        """A Docker client for the nemesis and the observers (any process may attach)."""
        return docker.from_env(timeout=120)

    def address(self, name: str) -> str:
        return self.state.address(name)

    def url(self, name: str, role: str | None = None) -> str:
        return self.state.url(name, role)

    def down(self, client=None) -> tuple[int, int, int]:
        self.wan.close()
        return down(self.run_id, state_file=self.state_file, client=client)


def up(
    topology: Topology,
    *,
    source: str = "auto",
    run_id: str | None = None,
    state_file: Path | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    client=None,
    seed: bool = True,
    kinds: frozenset[str] | None = None,
    metrics: bool = False,
    plain_vip: bool = False,
) -> Running:
    """Start `topology` and seed it. `kinds` starts only those component kinds (for debugging
    one part, or a test that needs only the data nodes); seeding then is skipped. `metrics`
    adds a Prometheus scraping every component (harness/topology/scrape.py). `plain_vip`: the
    VIP answers plain HTTP on 127.0.0.1 (harness/topology/components/ingress.py)."""
    run = _Startup.of(topology, source=source, run_id=run_id, state_file=state_file, progress=progress,
                      client=client, seed=seed, kinds=kinds)
    run.metrics, run.plain_vip = metrics, plain_vip
    try:
        _images(run)
        _networks(run)
        _wan(run)
        with _starts(run):
            _bootstrap(run)
            _gateways(run)
        lab = _state(run)
        _seed(run, lab)
        return lab
    except BaseException:
        progress("start-up failed: removing everything this run started")
        remove_all(run.client, run.run_id)
        if run.starter is not None:  # starts still in flight end once their container or network is gone
            run.starter.join()
            remove_all(run.client, run.run_id)
        shutil.rmtree(run.secrets_dir, ignore_errors=True)
        current = st.load(run.state_file)
        if current is not None and current.run_id == run.run_id:
            run.state_file.unlink(missing_ok=True)
        raise


def attach(state_file: Path | None = None) -> Running:
    """The running topology as `up` returned it, from another process (via the state file and
    the private secrets directory). `containers` is empty: go through Docker by name.

    Example (needs a running lab)::

        lab = attach()
        lab.wan.cut("dc1", "dc2"); lab.consumers["alice"]
    """
    import json

    from harness.spec import preset

    state_file = state_file or TopologySettings().state_file
    state = st.load(state_file)
    if state is None:
        raise StartupError(f"no topology is running (no state file at {state_file}): `halab up`")
    plan = Plan.of(preset(state.preset), state.run_id)
    bao = BaoSecrets(state.secret("unseal_key"), state.secret("harness_token"))
    consumers = json.loads(state.secret("consumers.json"))
    return Running(plan, wan_routes(plan), state, state_file, {}, WanLink.from_state(state), bao, consumers)


@contextlib.contextmanager
def running(topology: Topology, **kwargs) -> Iterator[Running]:
    """`up` on entry, `down` of that run on exit, whatever happens in between.

    >>> with running(preset("seed"), run_id="scenario-1") as lab:        # doctest: +SKIP
    ...     httpx.post(f"{lab.state.vip_url}/rag/query", headers={"apikey": lab.consumers["alice"]}, ...)
    """
    run_id = kwargs.pop("run_id", None) or new_run_id("lab")
    state_file = kwargs.get("state_file") or TopologySettings().state_file
    try:
        yield up(topology, run_id=run_id, **kwargs)
    finally:
        with contextlib.suppress(Exception):
            down(run_id, state_file=state_file, client=kwargs.get("client"))


def down(run_id: str | None = None, *, state_file: Path | None = None, client=None) -> tuple[int, int, int]:
    """Remove one run's containers, networks and volumes (every run's without `run_id`)."""
    state_file = state_file or TopologySettings().state_file
    client = client or docker.from_env(timeout=120)
    liveness.stop(run_id)  # before the containers go: their deaths are the lab's end, not faults
    try:
        return remove_all(client, run_id)
    finally:
        current = st.load(state_file)
        if current is not None and (run_id is None or current.run_id == run_id):
            st.forget(state_file)
        st.remove_private_dirs(run_id)  # a crashed run's unseal key must not outlive its containers


# --- the phases of `up` -----------------------------------------------------------------


@dataclass
class _Startup:
    """One `up` in progress: its settings, what each phase hands the next, the timings."""

    topology: Topology
    source: str
    settings: TopologySettings
    state_file: Path
    client: Any
    plan: Plan
    kinds: frozenset[str] | None
    seed: bool
    routes: tuple[Route, ...]
    secrets_dir: Path
    progress: Callable[[str], None]
    timings: dict[str, float] = field(default_factory=dict)
    t0: float = field(default_factory=time.monotonic)
    # Filled in by the phases, in order.
    image: Callable[[str], str] | None = None
    ctx: Context | None = None
    consumers: dict[str, str] = field(default_factory=dict)
    publish: Any = None
    wan: WanLink | None = None
    started: dict[str, HalabContainer] = field(default_factory=dict)
    starter: Starter | None = None
    bao: BaoSecrets = field(default_factory=lambda: BaoSecrets("", ""))
    metrics: bool = False
    plain_vip: bool = False

    @classmethod
    def of(cls, topology: Topology, *, source: str, run_id: str | None, state_file: Path | None,
           progress: Callable[[str], None], client, seed: bool, kinds: frozenset[str] | None) -> _Startup:
        settings = TopologySettings()
        state_file = state_file or settings.state_file
        client = client or docker.from_env(timeout=120)
        run_id = run_id or new_run_id("lab")
        plan = Plan.of(topology, run_id)
        return cls(topology, source, settings, state_file, client, plan, kinds, seed and kinds is None,
                   wan_routes(plan), st.private_dir(run_id), progress)

    @property
    def run_id(self) -> str:
        return self.plan.run_id

    def wanted(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds

    def phase(self, name: str) -> None:
        self.timings[name] = round(time.monotonic() - self.t0, 2)
        self.progress(f"[{self.timings[name]:5.1f} s] {name}")


def _images(run: _Startup) -> None:
    run.image = resolver(run.client, run.source)
    instruments = {"toxiproxy"} | ({"prometheus"} if run.metrics else set())
    for name in sorted({KINDS[p.kind].image for p in run.plan.placements if run.wanted(p.kind)} | instruments):
        run.image(name)  # fail fast, before anything starts, when an image is missing


def _networks(run: _Startup) -> None:
    plan = run.plan
    nets = create_site_networks(run.client, plan)
    run.publish = create_publish_network(run.client, plan)
    lb_site = plan.of_kind("lb")[0].site
    ctx = Context(plan, {k: n.name for k, n in nets.items()}, run.image, ready_timeout_s=run.settings.ready_timeout_s)
    ctx.vip = free_high_address(nets[lb_site])
    ctx.llm_key = pysecrets.token_urlsafe(24)
    ctx.llm_admin_token = pysecrets.token_urlsafe(18)
    st.write_secret(run.secrets_dir, "llm_admin_token", ctx.llm_admin_token)
    ctx.gateway_admin_key = pysecrets.token_urlsafe(24)
    st.write_secret(run.secrets_dir, "gateway_admin_key", ctx.gateway_admin_key)
    ctx.identity_key = pysecrets.token_urlsafe(32)
    st.write_secret(run.secrets_dir, "identity_key", ctx.identity_key)
    ctx.ca = LabCa.create(run.run_id)
    ctx.outside_ca = LabCa.create(f"{run.run_id} outside")
    etcd_tls.save_root(ctx.ca, run.secrets_dir)
    # What a user's client trusts: the run's CA first (LabCa.load reads it, with its key), then
    # the outside's, which signs the VIP's certificate. The outside's key is never saved.
    (run.secrets_dir / CA_CERT).write_bytes(ctx.trust_pem)
    ctx.ca.save_client(run.secrets_dir)
    ctx.etcd_passwords = {user: etcd_tls.new_password() for user in etcd_tls.PASSWORD_USERS}
    for user, password in ctx.etcd_passwords.items():
        st.write_secret(run.secrets_dir, f"etcd_password_{user}", password)
    run.consumers = seeding.new_consumers()
    ctx.extra_env.update(seeding.service_env(plan, run.consumers))
    run.ctx = ctx
    run.phase("networks")


def _wan(run: _Startup) -> None:
    ctx = run.ctx
    wan_c = wan_recipe.container(ctx, run.routes).start()
    listen = {s: wan_c.address(ctx.networks[s]) for s in ctx.networks}
    run.wan = WanLink(f"http://{listen[run.plan.topology.sites[0].name]}:{wan_c.port}", run.routes)
    run.wan.populate(listen)
    run.started["wan"] = wan_c
    run.phase(f"wan: {len(run.routes)} proxies")


@contextlib.contextmanager
def _starts(run: _Startup) -> Iterator[Starter]:
    """Everything but the gateways, all at once: data nodes first in the queue, the Python
    services (slow to import on two cores) start while OpenBao is set up. Leaving the block
    waits for every start submitted inside it (raising on any failure)."""
    order = sorted(
        (p for p in run.plan.placements if p.kind not in LATE_KINDS and run.wanted(p.kind)),
        key=lambda p: p.kind not in ("etcd", "vault", "mongo", "opa"),
    )
    todo = {p.name: RECIPES[p.kind](run.ctx, p) for p in order}
    if run.wanted("lb"):
        todo["ingress"] = ingress_recipe.container(run.ctx, run.publish.name, run.settings.vip_port or None,
                                                   plain=run.plain_vip)
    if run.metrics:
        todo["prometheus"] = prometheus_recipe.container(run.ctx)
    run.starter = Starter(run.started, run.settings.parallel_starts)
    with run.starter:
        run.starter.submit(todo)
        yield run.starter
    run.phase(f"{len(run.started)} containers healthy")


def _bootstrap(run: _Startup) -> None:
    """etcd's quorum and OpenBao's initialisation at once: each needs only its own containers,
    and OpenBao's (init, unseal, Raft join, AppRole) is the longest phase of a start."""
    plan = run.plan

    def etcd() -> None:
        run.starter.wait([p.name for p in plan.of_kind("etcd")])
        _wait_etcd(plan, run.started, run.settings.phase_timeout_s)
        first = plan.of_kind("etcd")[0]
        address = run.started[first.name].address(run.ctx.networks[first.site])
        etcd_tls.enable_auth(run.secrets_dir, first.name, address, first.port, run.ctx.etcd_passwords)
        run.phase("etcd cluster healthy, its users and roles set")

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="halab-etcd") as pool:
        quorum = pool.submit(etcd) if run.wanted("etcd") else None
        if run.wanted("vault"):
            run.starter.wait([p.name for p in plan.of_kind("vault")])
            run.bao = _bootstrap_bao(plan, run.started, run.ctx, run.secrets_dir)
            run.phase("openbao initialised, unsealed, joined")
        if quorum is not None:
            quorum.result()


def _gateways(run: _Startup) -> None:
    """The gateways, with their AppRole credentials (on the pool of `_starts`)."""
    if run.wanted("gateway"):
        run.starter.submit({p.name: RECIPES[p.kind](run.ctx, p) for p in run.plan.of_kind("gateway")})


def _vip_scheme(run: _Startup) -> str:
    """The LBs terminate TLS for users (the ingress passes it through as TCP, unless told to
    answer plain HTTP on 127.0.0.1)."""
    return "http" if run.plain_vip else run.plan.scheme("lb")


def _state(run: _Startup) -> Running:
    """The state file and the private secrets of a started topology: what `attach` reads."""
    plan, ctx, started = run.plan, run.ctx, run.started
    state = st.State(
        run_id=run.run_id,
        preset=run.topology.name,
        source=run.source,
        started_at=time.time(),
        vip_url=f"{_vip_scheme(run)}://127.0.0.1:{_published_port(started['ingress'])}" if "ingress" in started else "",
        vip_address=ctx.vip[0],
        prometheus_url=started["prometheus"].url() if "prometheus" in started else "",
        toxiproxy_api=run.wan.api_url,
        secrets_dir=str(run.secrets_dir),
        networks=dict(ctx.networks),
        components={
            p.name: {
                "kind": p.kind, "site": p.site, "node": p.node, "container": p.container,
                "aliases": list(p.aliases), "ports": dict(p.ports),
                "address": started[p.name].address(ctx.networks[p.site]),
            }
            for p in plan.placements
            if p.name in started
        },
        proxies=[{**r.__dict__, "name": r.name, "carries": list(r.carries)} for r in run.routes],
        timings=run.timings,
    )
    st.write_secret(run.secrets_dir, "consumers.json", seeding.dump_consumers(run.consumers))
    st.save(state, run.state_file)
    return Running(plan, run.routes, state, run.state_file, started, run.wan, run.bao, run.consumers)


def _seed(run: _Startup, lab: Running) -> None:
    """Seed (unless asked not to), then save the state again with every phase's timing."""
    if run.seed:
        seeding.seed_all(lab, progress=lambda m: run.phase(f"seed: {m}"))
    liveness.start(lab.state, lab.state_file)
    run.phase("liveness")
    run.phase("up")
    st.save(lab.state, run.state_file)


# --- helpers -------------------------------------------------------------------------


class Starter:
    """Starts containers on a thread pool (each start() returns once the component is healthy);
    `wait` blocks for some of them; leaving the block waits for all and raises on any failure."""

    def __init__(self, started: dict[str, HalabContainer], workers: int):
        self.started = started
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._futures: dict[str, object] = {}
        self._todo: dict[str, HalabContainer] = {}

    def submit(self, todo: dict[str, HalabContainer]) -> None:
        for name, c in todo.items():
            self._todo[name] = c
            self._futures[name] = self._pool.submit(c.start)

    def wait(self, names) -> None:
        errors = []
        for name in names:
            try:
                self._futures[name].result()
                self.started[name] = self._todo[name]
            except Exception as exc:  # noqa: BLE001 - collect all, report together
                errors.append(f"{name}: {exc}")
        if errors:
            raise StartupError("components failed to start:\n  " + "\n  ".join(errors))

    def __enter__(self) -> Starter:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            # Do not sit out every pending health wait (up to ready_timeout_s each): `up`
            # removes the run's containers and networks, which ends those waits, then join()s.
            self._pool.shutdown(wait=False, cancel_futures=True)
            return
        try:
            self.wait(list(self._futures))
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def join(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _wait_etcd(plan: Plan, started: dict[str, HalabContainer], timeout_s: float) -> None:
    members = [started[p.name] for p in plan.of_kind("etcd")]
    eventually(lambda: all(m.health().get("health") == "true" for m in members), timeout_s, poll_s=0.2,
               error=lambda w: StartupError(f"etcd cluster not healthy after {timeout_s:.0f} s ({w.error or ''})"))


def _bootstrap_bao(plan: Plan, started, ctx: Context, secrets_dir: Path) -> BaoSecrets:
    from system.vault.setup import bootstrap_gateway

    scheme = plan.scheme("vault", "api")
    members = [(p, f"{scheme}://{started[p.name].address(ctx.networks[p.site])}:{p.ports['api']}")
               for p in plan.of_kind("vault")]
    tls = scheme == "https"
    # Start-up on two shared cores: a TLS handshake with a member still joining can take seconds.
    cluster = BaoCluster(members, timeout_s=30.0, ca_pem=ctx.ca.cert_pem if tls else None,
                         client_cert=str(secrets_dir / CLIENT) if tls else None, identities=ctx.identities)
    try:
        key, root = cluster.initialise()
        st.write_secret(secrets_dir, "unseal_key", key)
        leader_url = members[0][1]
        with ThreadPoolExecutor(max_workers=1) as pool:
            joins = pool.submit(cluster.join_all, key)
            session = trust.named_session(secrets_dir / CA_CERT, members[0][0].container, str(secrets_dir / CLIENT))
            creds = bootstrap_gateway(leader_url, root, llm_key=ctx.llm_key, session=session)
            harness_token = cluster.harness_token(leader_url, root)
            joins.result()
        cluster.revoke(leader_url, root)  # the root token never outlives start-up
        del root
        st.write_secret(secrets_dir, "harness_token", harness_token)
        for g in plan.of_kind("gateway"):
            ctx.approle[g.name] = {"role_id": creds.role_id, "secret_id": creds.secret_id}
        return BaoSecrets(unseal_key=key, harness_token=harness_token)
    finally:
        cluster.close()


def _published_port(container: HalabContainer) -> int:
    c = container.get_wrapped_container()
    c.reload()
    bindings = c.attrs["NetworkSettings"]["Ports"][f"{ingress_recipe.LISTEN_PORT}/tcp"]
    return int(bindings[0]["HostPort"])
