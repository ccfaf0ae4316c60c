"""The chaos catalogue: one module per scenario, each a docstring saying what `seed` should do
(and, where it differs, `seed+witness`), its Scenario, and its expectations per preset.

    >>> sorted(CATALOGUE)[:3]
    ['bao-active', 'baseline', 'dc2-down']
    >>> CATALOGUE["dc2-down"].presets
    ('seed', 'seed+witness')

`pytest scenarios/` runs every entry on every preset it names; `halab chaos run NAME` runs
one and prints its verdicts; `halab chaos list` lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from harness.scenario import Scenario
from scenarios.expect import Expect


@dataclass(frozen=True)
class Entry:
    name: str
    scenario: Scenario
    expect: dict[str, Expect]  # preset -> expectations
    summary: str
    xfail: str = ""  # why the architecture is known to miss an expectation (the test says so)
    under_load: bool = False  # its load comes from Locust (loadtests/), as an operator's would run beside it

    @property
    def presets(self) -> tuple[str, ...]:
        return tuple(self.expect)


def _load() -> dict[str, Entry]:
    out = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        s: Scenario = mod.SCENARIO
        doc = (mod.__doc__ or "").strip().splitlines()
        out[s.name] = Entry(s.name, s, mod.EXPECT, doc[0] if doc else "", getattr(mod, "XFAIL", ""),
                         getattr(mod, "UNDER_LOAD", False))
    return out


CATALOGUE = _load()


def entry(name: str) -> Entry:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"no scenario {name!r} in the catalogue; known: {', '.join(CATALOGUE)}") from None
