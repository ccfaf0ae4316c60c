"""The external LLM API's faults through the stub's admin API, and rotating its key.

Rotation is what an operator does: the API accepts the new key (the old one for `grace_s`
more), then OpenBao gets the new key, and the gateways pick it up on their next refresh.
Heal leaves the rotated key in place: it is valid, and rotating back would be a second
rotation, not a heal.
"""

from __future__ import annotations

import secrets

import httpx

from harness.topology import trust
from harness.topology.state import State
from system.vault.setup import rotate_llm_key

FAULTS = {
    "llm-errors": lambda o: {"error_rate": float(o["rate"]), "error_status": int(o["status"])},
    "llm-429": lambda o: {"rate_limit_rate": float(o["rate"]), "retry_after_s": int(o["retry_after_s"])},
    "llm-hang": lambda o: {"hang_rate": float(o["rate"])},
}


def _admin(state: State) -> httpx.Client:
    llm = next(c.name for c in state.of_kind("llm"))
    return trust.component(state, llm, timeout=10, headers={"X-Admin-Token": state.secret("llm_admin_token")})


def set_faults(state: State, kind: str, options: dict) -> list[dict]:
    with _admin(state) as http:
        http.put("/admin/faults", json=FAULTS[kind](options)).raise_for_status()
    return [{"do": "llm-clear"}]


def clear(state: State) -> None:
    with _admin(state) as http:
        http.delete("/admin/faults").raise_for_status()


def rotate_key(state: State, options: dict) -> list[dict]:
    new_key = secrets.token_urlsafe(24)
    with _admin(state) as http:
        http.put("/admin/api-key", json={"key": new_key, "grace_s": float(options["grace_s"])}).raise_for_status()
    vault = next(c.name for c in state.of_kind("vault"))
    from chaos.raft import bao_active

    active = bao_active(state) or vault
    rotate_llm_key(state.url(active, "api"), state.secret("harness_token"), new_key, session=trust.session(state, active))
    return []
