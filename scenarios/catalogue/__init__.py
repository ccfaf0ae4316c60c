"""The chaos catalogue: one module per scenario, each a docstring saying what `seed` should do
(and, where it differs, `seed+witness`), its Scenario, and its expectations per preset.

    >>> sorted(CATALOGUE)[:3]
    ['bao-active', 'baseline', 'dc2-down']
    >>> CATALOGUE["dc2-down"].presets
    ('seed', 'seed+naive-lb', 'seed+witness')

`pytest scenarios/` runs every entry on every preset it names; `halab chaos run NAME` runs
one and prints its verdicts; `halab chaos list` lists them. `halab chaos run FILE` runs a
scenario file (`halab explore` writes them) as an entry held to the invariants alone.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, replace
from pathlib import Path

from harness.scenario import Scenario, load
from harness.spec import PRESETS
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
    """A catalogue scenario by name; NAME@RPS, the same at a constant RPS requests per second
    (fault times unchanged, its expectations too); or a .json/.toml scenario file (`of_file`).

    >>> e = entry("baseline@12")
    >>> e.name, e.scenario.load.stages[0].rps, e.scenario.load.duration_s == entry("baseline").scenario.load.duration_s
    ('baseline@12', 12.0, True)
    """
    if Path(name).suffix in (".json", ".toml"):
        return of_file(name)
    base, at, rate = name.partition("@")
    try:
        e = CATALOGUE[base]
    except KeyError:
        raise KeyError(f"no scenario {base!r} in the catalogue; known: {', '.join(CATALOGUE)}") from None
    if not at:
        return e
    try:
        rps = float(rate)
        if not 0 < rps <= 1000:
            raise ValueError
    except ValueError:
        raise KeyError(f"{name!r}: the rate after @ is requests per second, above 0 and at most 1000") from None
    return replace(e, name=name, scenario=replace(e.scenario.with_load(rps=rps), name=name))


def of_file(path: str | Path) -> Entry:
    """A scenario file as an entry on every preset, held to what every run must keep (no
    acknowledged update lost, every OPA converged after heal, the client kept up, the key
    rotation bound) and to no availability, latency or detection goal: a file says what
    happens, not what the architecture promises under it; the catalogue's entries do."""
    try:
        s = load(path)
    except (ValueError, OSError) as exc:  # ScenarioError, and JSON's and TOML's decode errors
        raise KeyError(f"scenario file {path}: {exc}") from None
    return Entry(s.name, s, {p: Expect() for p in PRESETS}, s.description or f"scenario file {path}")
