"""One start recipe per component kind: `container(ctx, placement)` returns a configured,
not yet started container from harness/containers, on its site's network under its alias.

    >>> from harness.topology.components import RECIPES
    >>> sorted(RECIPES)
    ['cms', 'etcd', 'gateway', 'lb', 'llm', 'mongo', 'opa', 'policy_sync', 'rag', 'vault', 'vectordb']
"""

from __future__ import annotations

from harness.topology.components import etcd, lb, mongo, opa, services, vault
from harness.topology.components.context import Context

RECIPES = {
    "etcd": etcd.container,
    "vault": vault.container,
    "opa": opa.container,
    "mongo": mongo.container,
    "lb": lb.container,
    **{kind: services.container for kind in services.SERVICE_MODULES},
}

__all__ = ["Context", "RECIPES"]
