"""Realise a spec as containers: `up` starts and seeds a topology, `down` removes it.

Example (starts a lab, so not a doctest)::

    lab = up(preset("seed"))
    lab.state.vip_url                            # 'http://127.0.0.1:49153'
    lab.wan.cut("dc1", "dc2"); lab.wan.heal()
    down(lab.run_id)

Phases, each waiting for health before the next (a failure removes everything started):
  1. networks: one internal network per site, the publish network, the VIP's address;
  2. WAN: the multi-homed Toxiproxy container, then every proxy of wan.wan_routes;
  3. everything but the gateways, in parallel (data nodes, Atlas, LLM, app services, LBs,
     ingress): each container is ready on its own health signal;
  4. etcd's cluster health; OpenBao init, unseal, Raft joins, KV + LLM key + AppRole;
  5. the gateways (they need their AppRole credentials);
  6. seeding (seeding.py), then one RAG query through the VIP.
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

import docker

from harness.containers.base import HalabContainer
from harness.kinds import KINDS
from harness.labels import new_run_id
from harness.spec import Topology
from harness.topology import seeding
from harness.topology import state as st
from harness.topology.bao import BaoCluster, BaoSecrets
from harness.topology.components import RECIPES, Context
from harness.topology.components import ingress as ingress_recipe
from harness.topology.components import toxiproxy as wan_recipe
from harness.topology.networks import create_publish_network, create_site_networks, free_high_address
from harness.topology.plan import Plan
from harness.topology.settings import TopologySettings
from harness.topology.sources import resolver
from harness.topology.teardown import remove_all
from harness.topology.wan import Route, wan_routes
from harness.topology.wanlink import WanLink

log = logging.getLogger(__name__)
LATE_KINDS = tuple(k.name for k in KINDS.values() if k.starts_late)  # need OpenBao credentials


class StartupError(RuntimeError):
    pass


@dataclass
class Running:
    """A started, seeded topology held by the process that started it (secrets in memory)."""

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
) -> Running:
    """Start `topology` and seed it. `kinds` starts only those component kinds (for debugging
    one part, or a test that needs only the data nodes); seeding then is skipped."""
    settings = TopologySettings()
    state_file = state_file or settings.state_file
    client = client or docker.from_env(timeout=120)
    run_id = run_id or new_run_id("lab")
    plan = Plan.of(topology, run_id)
    wanted = lambda kind: kinds is None or kind in kinds
    seed = seed and kinds is None
    routes = wan_routes(plan)
    secrets_dir = st.private_dir(run_id)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    starter: Starter | None = None

    def phase(name: str) -> None:
        timings[name] = round(time.monotonic() - t0, 2)
        progress(f"[{timings[name]:5.1f} s] {name}")

    try:
        image = resolver(client, source)
        for name in sorted({KINDS[p.kind].image for p in plan.placements if wanted(p.kind)} | {"toxiproxy"}):
            image(name)  # fail fast, before anything starts, when an image is missing
        # 1. networks
        nets = create_site_networks(client, plan)
        publish = create_publish_network(client, plan)
        lb_site = plan.of_kind("lb")[0].site
        ctx = Context(plan, {k: n.name for k, n in nets.items()}, image, ready_timeout_s=settings.ready_timeout_s)
        ctx.vip = free_high_address(nets[lb_site])
        ctx.llm_key = pysecrets.token_urlsafe(24)
        ctx.llm_admin_token = pysecrets.token_urlsafe(18)
        st.write_secret(secrets_dir, "llm_admin_token", ctx.llm_admin_token)
        consumers = seeding.new_consumers()
        ctx.extra_env.update(seeding.service_env(plan, consumers))
        phase("networks")

        # 2. the WAN link
        wan_c = wan_recipe.container(ctx, routes).start()
        listen = {s: wan_c.address(ctx.networks[s]) for s in ctx.networks}
        wan = WanLink(f"http://{listen[plan.topology.sites[0].name]}:{wan_c.port}", routes)
        wan.populate(listen)
        phase(f"wan: {len(routes)} proxies")

        # 3. everything but the gateways, all at once: data nodes first in the queue, the
        #    Python services (slow to import on two cores) start while OpenBao is set up.
        started: dict[str, HalabContainer] = {"wan": wan_c}
        order = sorted(
            (p for p in plan.placements if p.kind not in LATE_KINDS and wanted(p.kind)),
            key=lambda p: p.kind not in ("etcd", "vault", "mongo", "opa"),
        )
        todo = {p.name: RECIPES[p.kind](ctx, p) for p in order}
        if wanted("lb"):
            todo["ingress"] = ingress_recipe.container(ctx, publish.name, settings.vip_port or None)
        starter = Starter(started, settings.parallel_starts)
        with starter:
            starter.submit(todo)
            # 4. etcd quorum, OpenBao (needs only its own containers)
            starter.wait([p.name for p in plan.of_kind("etcd") if wanted("etcd")])
            if wanted("etcd"):
                _wait_etcd(plan, started, settings.phase_timeout_s)
                phase("etcd cluster healthy")
            bao = BaoSecrets("", "")
            if wanted("vault"):
                starter.wait([p.name for p in plan.of_kind("vault")])
                bao = _bootstrap_bao(plan, started, ctx, secrets_dir)
                phase("openbao initialised, unsealed, joined")
            # 5. gateways, with their AppRole credentials
            if wanted("gateway"):
                starter.submit({p.name: RECIPES[p.kind](ctx, p) for p in plan.of_kind("gateway")})
        phase(f"{len(started)} containers healthy")

        state = st.State(
            run_id=run_id,
            preset=topology.name,
            source=source,
            started_at=time.time(),
            vip_url=f"http://127.0.0.1:{_published_port(started['ingress'])}" if "ingress" in started else "",
            vip_address=ctx.vip[0],
            toxiproxy_api=wan.api_url,
            secrets_dir=str(secrets_dir),
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
            proxies=[{**r.__dict__, "name": r.name, "carries": list(r.carries)} for r in routes],
            timings=timings,
        )
        st.write_secret(secrets_dir, "consumers.json", seeding.dump_consumers(consumers))
        st.save(state, state_file)
        running = Running(plan, routes, state, state_file, started, wan, bao, consumers)

        # 6. seed
        if seed:
            seeding.seed_all(running, progress=lambda m: phase(f"seed: {m}"))
        phase("up")
        st.save(state, state_file)
        return running
    except BaseException:
        progress("start-up failed: removing everything this run started")
        remove_all(client, run_id)
        if starter is not None:  # starts still in flight end once their container or network is gone
            starter.join()
            remove_all(client, run_id)
        shutil.rmtree(secrets_dir, ignore_errors=True)
        current = st.load(state_file)
        if current is not None and current.run_id == run_id:
            state_file.unlink(missing_ok=True)
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
    try:
        return remove_all(client, run_id)
    finally:
        current = st.load(state_file)
        if current is not None and (run_id is None or current.run_id == run_id):
            st.forget(state_file)
        st.remove_private_dirs(run_id)  # a crashed run's unseal key must not outlive its containers


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
    deadline = time.monotonic() + timeout_s
    members = [started[p.name] for p in plan.of_kind("etcd")]
    last = ""
    while time.monotonic() < deadline:
        try:
            if all(m.health().get("health") == "true" for m in members):
                return
        except Exception as exc:  # noqa: BLE001 - not yet
            last = str(exc)
        time.sleep(0.2)
    raise StartupError(f"etcd cluster not healthy after {timeout_s:.0f} s ({last})")


def _bootstrap_bao(plan: Plan, started, ctx: Context, secrets_dir: Path) -> BaoSecrets:
    from system.vault.setup import bootstrap_gateway

    members = [(p, f"http://{started[p.name].address(ctx.networks[p.site])}:{p.ports['api']}") for p in plan.of_kind("vault")]
    cluster = BaoCluster(members)
    try:
        key, root = cluster.initialise()
        st.write_secret(secrets_dir, "unseal_key", key)
        leader_url = members[0][1]
        with ThreadPoolExecutor(max_workers=1) as pool:
            joins = pool.submit(cluster.join_all, key)
            creds = bootstrap_gateway(leader_url, root, llm_key=ctx.llm_key)
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
