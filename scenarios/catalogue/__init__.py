"""The chaos catalogue: one module per scenario, each a docstring saying what `seed` should do
(and, where it differs, `seed+witness`), its Scenario, and its expectations per preset.

    >>> {"baseline", "dc2-down", "bad-certs"} <= set(CATALOGUE)
    True
    >>> CATALOGUE["dc2-down"].presets
    ('seed', 'seed+naive-lb', 'seed+witness')

`pytest tests/scenarios/test_catalogue.py` runs every entry on every preset it names; `halab chaos run NAME` runs
one and prints its verdicts; `halab chaos list` lists them. `halab chaos run FILE` runs a
scenario file (`halab explore` writes them) as an entry held to the invariants alone.

This is the one place a scenario is named: `entry` resolves every command's `--scenario`.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, replace
from pathlib import Path

from harness.scenario import EntryRef, Scenario, ScenarioError, load
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
        s: Scenario = replace(mod.SCENARIO, entry=EntryRef(mod.SCENARIO.name))  # so any run of it records it
        doc = (mod.__doc__ or "").strip().splitlines()
        out[s.name] = Entry(s.name, s, mod.EXPECT, doc[0] if doc else "", getattr(mod, "XFAIL", ""),
                         getattr(mod, "UNDER_LOAD", False))
    return out


CATALOGUE = _load()


class NotResolved(ScenarioError, KeyError):
    """What `--scenario` said names no scenario: an unknown name (the known ones are listed),
    a malformed @ suffix (the form is given), or a file that does not read. A ScenarioError to
    the commands that take a scenario, a KeyError to those that take a catalogue entry."""

    def __str__(self) -> str:  # KeyError's would quote the message
        return str(self.args[0])


SPEC_HELP = ("A catalogue scenario (`halab chaos list`) as NAME, NAME@RPS or NAME@RPS/DURATION (a constant "
             "rate; a new duration scales the fault times), or a .json/.toml scenario file.")


def entry(spec: str) -> Entry:
    """What every `--scenario` (and `halab chaos run NAME`) names, resolved here alone:

    - NAME: the catalogue entry;
    - NAME@RPS: the same at a constant RPS requests per second, for as long as the entry runs,
      its fault times unchanged;
    - NAME@RPS/DURATION: the same for DURATION seconds, its fault times *scaled* with the
      duration (as `--duration` scales them), so a fault stays in the same part of the run
      and an availability expectation keeps its meaning; the long model runs are these;
    - a path ending in .json or .toml: a scenario file (`of_file`).

    A catalogue entry keeps its expectations at any load, and its scenario records which
    entry and load it is (`Scenario.entry`, written to the run's scenario.json); its display
    name is the spec, canonical. dc2-down@200/600 is the 10-minute model run the presets that
    harness/scenario.py once held made (fault 120-420 s), in the catalogue's request mix:

    >>> e = entry("dc2-down@200/600")
    >>> e.name, e.scenario.load.stages[0].rps, e.scenario.load.duration_s
    ('dc2-down@200/600', 200.0, 600.0)
    >>> [(f.kind, f.start_s, f.stop_s) for f in e.scenario.faults]   # 10-35 s of 50 s, scaled
    [('site-down', 120.0, 420.0)]
    >>> e.scenario.entry, e.expect == entry("dc2-down").expect
    (EntryRef(name='dc2-down', rps=200.0, duration_s=600.0), True)
    >>> e = entry("baseline@12")
    >>> e.name, e.scenario.load.stages[0].rps, e.scenario.load.duration_s == entry("baseline").scenario.load.duration_s
    ('baseline@12', 12.0, True)
    >>> entry("dc2-dwon")
    Traceback (most recent call last):
    ...
    scenarios.catalogue.NotResolved: unknown scenario 'dc2-dwon': the catalogue has ...
    """
    if Path(spec).suffix in (".json", ".toml"):
        return of_file(spec)
    try:
        ref = EntryRef.parse(spec)
    except ScenarioError as exc:
        raise NotResolved(str(exc)) from None
    try:
        e = CATALOGUE[ref.name]
    except KeyError:
        raise NotResolved(f"unknown scenario {ref.name!r}: the catalogue has {', '.join(CATALOGUE)}; "
                          "or give a .json/.toml scenario file") from None
    if ref.rps is None:
        return e
    sc = e.scenario.with_load(rps=ref.rps, duration_s=ref.duration_s)
    return replace(e, name=ref.spec, scenario=replace(sc, name=ref.spec))


def of_file(path: str | Path) -> Entry:
    """A scenario file as an entry on every preset, held to what every run must keep (no
    acknowledged update lost, every OPA converged after heal, the client kept up, the key
    rotation bound) and to no availability, latency or detection goal: a file says what
    happens, not what the architecture promises under it; the catalogue's entries do. So an
    entry recorded in the file (a run's scenario.json) is dropped: the file is its own."""
    try:
        s = replace(load(path), entry=None)
    except (ValueError, OSError) as exc:  # ScenarioError, and JSON's and TOML's decode errors
        raise NotResolved(f"scenario file {path}: {exc}") from None
    return Entry(s.name, s, {p: Expect() for p in PRESETS}, s.description or f"scenario file {path}")
