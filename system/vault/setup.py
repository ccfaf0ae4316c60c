"""Provision OpenBao for the gateway, the way APISIX's Vault secret manager expects it.

APISIX reads `GET /v1/<prefix>/<path>` and takes `data[<field>]` — a KV **version 1**
mount. So: a KV v1 mount `kv`, the LLM key at `kv/apisix/llm` field `api_key` (referenced
as `$secret://vault/1/llm/api_key` with the secret manager's prefix `kv/apisix`), and an
AppRole `gateway` whose only policy may read that one path.

    creds = bootstrap_gateway("http://vault1:8200", root_token, llm_key="sk-...")
    # HALAB_GATEWAY_VAULT_ROLE_ID=creds.role_id, HALAB_GATEWAY_VAULT_SECRET_ID=creds.secret_id
    rotate_llm_key("http://vault1:8200", root_token, "sk-new")

Init/unseal of a Raft cluster is the topology's; these functions need an unsealed server
and a token allowed to mount, write policies and manage AppRole (the root token in dev mode).
Nothing here logs a key, a token or a secret id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import hvac

KV_MOUNT = "kv"
LLM_PATH = "apisix/llm"  # under the mount; APISIX prefix "kv/apisix" + key "llm/api_key"
LLM_FIELD = "api_key"
APPROLE_MOUNT = "approle"
ROLE = "gateway"
POLICY = "gateway-llm-read"


@dataclass(frozen=True)
class AppRoleCredentials:
    role_id: str
    secret_id: str = field(repr=False)

    def env(self, prefix: str = "HALAB_GATEWAY_") -> dict[str, str]:
        return {f"{prefix}VAULT_ROLE_ID": self.role_id, f"{prefix}VAULT_SECRET_ID": self.secret_id}


def client(addr: str, token: str, timeout: float = 5.0, session=None) -> hvac.Client:
    """`session`: a requests.Session of the caller's (the harness's checks a lab certificate's name)."""
    return hvac.Client(url=addr, token=token, timeout=timeout, session=session)


def enable_kv_v1(c: hvac.Client, mount: str = KV_MOUNT) -> None:
    mounts = c.sys.list_mounted_secrets_engines()
    data = mounts.get("data", mounts)
    if f"{mount}/" in data:
        options = (data[f"{mount}/"].get("options") or {})
        if str(options.get("version", "1")) != "1":
            raise RuntimeError(f"mount {mount}/ exists as KV v{options.get('version')}; APISIX reads KV v1")
        return
    c.sys.enable_secrets_engine("kv", path=mount, options={"version": "1"})


def write_llm_key(c: hvac.Client, key: str, *, mount: str = KV_MOUNT, path: str = LLM_PATH,
                  field_name: str = LLM_FIELD) -> None:
    c.secrets.kv.v1.create_or_update_secret(path=path, secret={field_name: key}, mount_point=mount)


def policy_hcl(mount: str = KV_MOUNT, path: str = LLM_PATH) -> str:
    return f'path "{mount}/{path}" {{\n  capabilities = ["read"]\n}}\n'


def create_gateway_approle(c: hvac.Client, *, role: str = ROLE, policy: str = POLICY, mount: str = KV_MOUNT,
                           path: str = LLM_PATH, token_ttl: str = "1h", token_max_ttl: str = "4h") -> AppRoleCredentials:
    auths = c.sys.list_auth_methods()
    if f"{APPROLE_MOUNT}/" not in auths.get("data", auths):
        c.sys.enable_auth_method("approle", path=APPROLE_MOUNT)
    c.sys.create_or_update_policy(name=policy, policy=policy_hcl(mount, path))
    c.auth.approle.create_or_update_approle(role_name=role, token_policies=[policy], token_ttl=token_ttl,
                                            token_max_ttl=token_max_ttl, mount_point=APPROLE_MOUNT)
    role_id = c.auth.approle.read_role_id(role_name=role, mount_point=APPROLE_MOUNT)["data"]["role_id"]
    secret_id = c.auth.approle.generate_secret_id(role_name=role, mount_point=APPROLE_MOUNT)["data"]["secret_id"]
    return AppRoleCredentials(role_id=role_id, secret_id=secret_id)


def bootstrap_gateway(addr: str, token: str, llm_key: str, session=None, **kwargs) -> AppRoleCredentials:
    """KV v1 mount, the LLM key, the read-only policy and the AppRole: idempotent."""
    c = client(addr, token, session=session)
    enable_kv_v1(c)
    write_llm_key(c, llm_key)
    return create_gateway_approle(c, **kwargs)


def rotate_llm_key(addr: str, token: str, new_key: str, session=None) -> None:
    write_llm_key(client(addr, token, session=session), new_key)
