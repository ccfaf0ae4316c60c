"""Every example in the simulation modules' docstrings runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["analytic", "calibrate", "capacity", "components", "model", "network", "params", "quorum", "run"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"simulation.{name}")
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
