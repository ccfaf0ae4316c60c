"""One start recipe per component kind: `container(ctx, placement)` returns a configured,
not yet started container from harness/containers, on its site's network under its alias.

    >>> from harness.topology.components import RECIPES
    >>> sorted(RECIPES)
    ['cms', 'etcd', 'gateway', 'lb', 'llm', 'mongo', 'opa', 'policy_sync', 'rag', 'vault', 'vectordb']
"""

from __future__ import annotations

import importlib

from harness.kinds import KINDS
from harness.topology.components import services
from harness.topology.components.context import Context

# From the kind table, by convention: the platform's own services share services.py; every
# other kind has the module named after it here. Adding a kind adds no line to this file.
RECIPES = {
    k.name: services.container if k.module else importlib.import_module(f"{__name__}.{k.name}").container
    for k in KINDS.values()
}

__all__ = ["Context", "RECIPES"]
