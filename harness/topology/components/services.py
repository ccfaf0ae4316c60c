"""The platform's own services (`python -m system.<module>` in the python image), one recipe.

Each service is configured only through its settings class's `HALAB_<MODULE>_*` variables;
`env_for` builds them from the plan (every etcd member, the local one first; local OPA, vault and vector node of the service's
own site; the external Atlas and LLM through their aliases, hence the WAN proxies). Keys a
settings class does not declare are dropped with a warning, so a renamed setting shows up
at `halab up`, not as a silently ignored variable.
"""

from __future__ import annotations

import importlib
import logging
import typing

import harness.topology.etcd_tls as etcd_tls
from harness.containers import PythonServiceContainer
from harness.kinds import KINDS
from harness.topology.components.context import Context
from harness.topology.plan import Placement, Plan
from system.common.settings import SECRETS_DIR
from system.common.tls import CA, TLS_DIR

log = logging.getLogger(__name__)

# spec kind -> module under system/
SERVICE_MODULES = {k.name: k.module for k in KINDS.values() if k.module}
LLM_KEY_PATH = "/run/halab/llm_api_key"
VECTORDB_DATA_DIR = "/var/lib/halab/vectordb"


def mongo_url(plan: Plan, site: str) -> str:
    """directConnection: the Atlas stand-in is no replica set; never let pymongo go looking.
    TLS with the lab CA, which the service's container holds (system/common/tls.py)."""
    atlas = plan.nearest("mongo", site)
    tls = f"&tls=true&tlsCAFile={TLS_DIR / CA}" if plan.tls("mongo") else ""
    return f"mongodb://{atlas.hostport()}/?directConnection=true{tls}"


def _others(plan: Plan, kind: str, site: str) -> list[Placement]:
    return [p for p in plan.of_kind(kind) if p.site != site]


def _local_first(plan: Plan, kind: str, site: str) -> list[Placement]:
    """Every component of `kind`, the site's own (or nearest) first, then the spec's order:
    etcd's clients are given every member, a witness site's included, and fail over in this order."""
    first = plan.nearest(kind, site)
    return [first, *(x for x in plan.of_kind(kind) if x.name != first.name)]


def env_for(ctx: Context, p: Placement) -> dict[str, str]:
    """The service's settings as {field: value} (without the HALAB_<MODULE>_ prefix)."""
    plan, site = ctx.plan, p.site
    env: dict[str, str] = {"port": str(p.port), "log_level": "warning"}
    if p.kind in ("gateway", "cms", "rag"):
        env["identity_key"] = ctx.identity_key
    local = lambda kind: plan.nearest(kind, site)
    params = plan.topology.params
    if p.kind == "gateway":
        env |= {
            # the spec's key cache: fresh for ttl, then served stale while OpenBao fails
            "secret_ttl_s": f"{params.key_cache.ttl_s:g}",
            "secret_max_stale_s": f"{params.key_cache.max_stale_s:g}",
            "etcd_endpoint": ",".join(x.url("client") for x in _local_first(plan, "etcd", site)),
            "etcd_user": "gateway",
            "etcd_password": ctx.etcd_passwords.get("gateway", ""),
            "vault_addr": local("vault").url("api"),
            **{f"vault_{k}": v for k, v in ctx.approle.get(p.name, {}).items()},
            "admin_port": str(p.ports["admin"]),
            "admin_key": ctx.gateway_admin_key,
        }
    elif p.kind == "cms":
        env |= {
            "etcd_endpoint": ",".join(x.hostport("client") for x in _local_first(plan, "etcd", site)),
            "mongo_url": mongo_url(plan, site),
            "opa_url": local("opa").url(),
            "policy_sync_url": local("policy_sync").url(),
        }
    elif p.kind == "policy_sync":
        env |= {
            "etcd_endpoint": ",".join(x.hostport("client") for x in _local_first(plan, "etcd", site)),
            "mode": "bundle",
            "opa_url": local("opa").url(),  # the policy documents' Data API
            "resync_interval_s": f"{params.policy_sync.resync_s:g}",
            "backoff_min_s": f"{params.policy_sync.reconnect_backoff_s:g}",
        }
    elif p.kind == "rag":
        other_vector, other_gateway = _others(plan, "vectordb", site), _others(plan, "gateway", site)
        env |= {
            "mongo_url": mongo_url(plan, site),
            "vector_url_local": local("vectordb").url(),
            "gateway_url_local": local("gateway").url(),
            # The other DC's nodes, for failover (their aliases resolve to the WAN proxy).
            "vector_url_remote": other_vector[0].url() if other_vector else "",
            "gateway_url_remote": other_gateway[0].url() if other_gateway else "",
        }
    elif p.kind == "vectordb":
        # Full mesh: every other vector node, whatever its site (a witness site's too).
        others = [x for x in plan.of_kind("vectordb") if x.name != p.name]
        env |= {
            "node_id": p.name,
            "peers": ",".join(x.url() for x in others),
            # On the container's own disk, as a Qdrant node keeps its storage: a restarted node
            # replays its log and serves what it held. In memory, it came back empty and ready,
            # answered "collection not found" until its peers refilled it, and a rolling restart
            # of the data nodes left no node with the collection (ca-rotation's first run).
            "data_dir": VECTORDB_DATA_DIR,
            "write_consistency": str(params.vector.write_consistency),
        }
    elif p.kind == "llm":
        env |= {"api_key_file": LLM_KEY_PATH, "seed": "0", "admin_token": ctx.llm_admin_token}
    if "etcd" in KINDS[p.kind].talks_to:
        env["etcd_tls_dir"] = etcd_tls.TLS_DIR
    env |= ctx.extra_env.get(p.name, {})
    return env


def settings_fields(module: str) -> tuple[set[str], set[str]]:
    """(every field, the secret ones) of the service's settings classes; empty if it has none."""
    from pydantic import SecretStr

    try:
        mod = importlib.import_module(f"system.{module}.settings")
    except ModuleNotFoundError:
        return set(), set()
    fields: set[str] = set()
    secret: set[str] = set()
    for obj in vars(mod).values():
        model_fields = getattr(obj, "model_fields", None)
        if isinstance(obj, type) and model_fields and obj.__module__ == mod.__name__:
            fields |= set(model_fields)
            secret |= {name for name, f in model_fields.items() if SecretStr in _types(f.annotation)}
    return fields, secret


def _types(annotation) -> tuple:
    return typing.get_args(annotation) or (annotation,)


def declared(module: str, env: dict[str, str]) -> dict[str, str]:
    """Keep the keys the service's settings class declares; warn about the others."""
    fields, _ = settings_fields(module)
    if not fields:
        return env
    unknown = sorted(set(env) - fields)
    if unknown:
        log.warning("system.%s settings declare no %s: not passed", module, ", ".join(unknown))
    return {k: v for k, v in env.items() if k in fields}


def container(ctx: Context, p: Placement) -> PythonServiceContainer:
    module = SERVICE_MODULES[p.kind]
    c = PythonServiceContainer(ctx.run_id, module, ctx.image_of(p.kind), site=p.site)
    c.port = p.port
    ctx.place(c, p)
    prefix = f"HALAB_{module.upper()}_"
    _, secret = settings_fields(module)
    for key, value in declared(module, env_for(ctx, p)).items():
        if key in secret:
            # A file the settings read (system/common/settings.py), not a variable `docker inspect` shows.
            c.with_copy_into_container(value.encode(), f"{SECRETS_DIR}/{prefix}{key.upper()}", mode=0o600)
        else:
            c.with_env(prefix + key.upper(), value)
    if "etcd" in KINDS[p.kind].talks_to:
        # Its etcd user is the certificate's common name (the gateway's: its password), one per kind.
        for path, content in etcd_tls.files(ctx.ca, etcd_tls.client_cert(ctx.ca, p.kind)).items():
            c.with_copy_into_container(content, path, mode=0o600)
    if KINDS[p.kind].tls:
        ctx.serve_tls(c, p)
    if p.kind == "llm":
        # The key reaches the stub as a file, not as an environment variable `docker inspect` shows.
        c.with_copy_into_container(ctx.llm_key.encode(), LLM_KEY_PATH, mode=0o600)
    return c
