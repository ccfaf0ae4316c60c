"""Every docstring example of every module runs (examples that need a lab are plain code
blocks that say so, or carry `doctest: +SKIP`). One test per module, found by walking the
packages, so a new module's examples run without being listed anywhere."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("system", "harness", "chaos", "scenarios", "simulation", "reports")


def _modules() -> list[str]:
    out = []
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        out.append(name)
        out += [m.name for m in pkgutil.walk_packages(pkg.__path__, f"{name}.")
                if not m.name.endswith("__main__") and ".test_" not in m.name]
    return sorted(out)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
