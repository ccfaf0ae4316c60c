"""OpenBao (Vault API) setup for the gateway: the LLM key in KV, an AppRole that reads only it."""

from system.vault.setup import AppRoleCredentials, bootstrap_gateway, rotate_llm_key

__all__ = ["AppRoleCredentials", "bootstrap_gateway", "rotate_llm_key"]
