"""A scenario as plain data: a load profile and a fault schedule. The harness runs it against
containers, simulation/ runs it against the SimPy model; both produce a history.

    >>> s = Scenario("cut", Load.constant(6.0, 50.0), (Fault("site-down", "dc2", 10.0, 35.0),))
    >>> s.load.rate_at(10.0), s.load.duration_s
    (6.0, 50.0)
    >>> longer = s.with_load(rps=200, duration_s=600)   # fault times scale with the duration
    >>> [(f.start_s, f.stop_s) for f in longer.faults], longer.load.rate_at(0)
    ([(120.0, 420.0)], 200.0)

Scenarios are named in one place, the catalogue (scenarios/catalogue), whose `entry` resolves
what `--scenario` says; a scenario resolved from it carries an `EntryRef` saying which entry
and at what load, and runs record it. This module holds the data and the file format.

The flows are named here once (RAG_QUERY, POLICY_UPDATE, RAG_INGEST); the harness's clients
and the model import the names, and both draw a load's arrivals from `Load.arrivals`.

Fault kinds and their targets are the table in harness/faults.py (`halab faults --kinds`
lists them): a site, a node, a component or a kind, or a link "a,b" / "a->b" / "a".
A fault with stop_s None lasts to the end of the run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import faults as _faults

FAULT_KINDS = tuple(_faults.FAULT_KINDS)  # the table in harness/faults.py
RAG_QUERY, POLICY_UPDATE, RAG_INGEST = "rag_query", "policy_update", "rag_ingest"
FLOWS = (RAG_QUERY, POLICY_UPDATE, RAG_INGEST)
DEFAULT_MIX = ((RAG_QUERY, 0.95), (POLICY_UPDATE, 0.05))


class ScenarioError(ValueError):
    """A scenario that cannot run; the message says what is wrong."""


@dataclass(frozen=True)
class Stage:
    """Hold `rps` requests per second for `duration_s` seconds (Locust's stages table)."""

    duration_s: float
    rps: float


@dataclass(frozen=True)
class Load:
    """Open-loop arrivals: stages run one after another; `mix` gives each flow's share."""

    stages: tuple[Stage, ...]
    mix: tuple[tuple[str, float], ...] = DEFAULT_MIX

    def __post_init__(self) -> None:
        if not self.stages:
            raise ScenarioError("a load needs at least one stage")
        if any(s.duration_s <= 0 or s.rps < 0 for s in self.stages):
            raise ScenarioError("every stage needs duration_s > 0 and rps >= 0")
        unknown = [f for f, _ in self.mix if f not in FLOWS]
        if unknown:
            raise ScenarioError(f"unknown flow(s) in mix: {', '.join(unknown)}; known: {', '.join(FLOWS)}")
        if not self.mix or any(w < 0 for _, w in self.mix) or sum(w for _, w in self.mix) <= 0:
            raise ScenarioError("mix weights must be >= 0 and not all zero")

    @classmethod
    def constant(cls, rps: float, duration_s: float, mix=DEFAULT_MIX) -> Load:
        return cls((Stage(duration_s, rps),), tuple(mix))

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.stages)

    def rate_at(self, t: float) -> float | None:
        """The rate at time t, or None after the last stage (like LoadTestShape.tick())."""
        end = 0.0
        for s in self.stages:
            end += s.duration_s
            if t < end:
                return float(s.rps)
        return None

    def shares(self) -> dict[str, float]:
        total = sum(w for _, w in self.mix)
        return {f: w / total for f, w in self.mix}

    def arrivals(self, rng: random.Random, start: float = 0.0) -> Iterator[tuple[float, float, str | None]]:
        """Open-loop Poisson arrivals, stage after stage, each choosing its flow by the mix:
        `(time, wait, flow)` steps, where `flow` arrives `wait` seconds after the step before,
        at `time` (from `start`); `flow` None ends a stage, where nothing arrives (Poisson is
        memoryless: the next stage starts afresh at its boundary).

        Times are summed from the waits as a SimPy clock sums its timeouts, so the model
        (simulation/run.py) waiting each `wait` is at each `time` exactly. The draws, in this
        order, make the sequence for a seed: per step one exponential gap, then per arrival
        one uniform against the cumulative shares.

        >>> load = Load((Stage(2.0, 1.0), Stage(1.0, 0.0)), mix=((RAG_QUERY, 0.5), (POLICY_UPDATE, 0.5)))
        >>> [(round(t, 2), round(w, 2), f) for t, w, f in load.arrivals(random.Random(1))]
        [(0.14, 0.14, 'policy_update'), (1.59, 1.44, 'rag_query'), (2.0, 0.41, None), (3.0, 1.0, None)]
        """
        expo, uniform = rng.expovariate, rng.random
        cumulative, total = [], 0.0
        for flow, share in self.shares().items():
            total += share
            cumulative.append((total, flow))
        last = cumulative[-1][1]
        c0, first = cumulative[0]
        now = start
        for stage in self.stages:
            stage_end = now + stage.duration_s
            rate = stage.rps
            if rate <= 0:
                now += stage.duration_s
                yield now, stage.duration_s, None
                continue
            while True:
                gap = expo(rate)
                if now + gap >= stage_end:
                    wait = stage_end - now
                    now += wait
                    yield now, wait, None
                    break
                now += gap
                u = uniform()
                yield now, gap, first if u < c0 else next((f for c, f in cumulative if u < c), last)


@dataclass(frozen=True)
class Fault:
    """One fault, from start_s to stop_s (None: to the end). `options` holds kind-specific values.

    A `gated` fault starts at start_s or once the fault before it in the schedule has fully
    started, whichever is later: a rolling restart takes the next node down only when the
    previous one is back in the LB, so its verdict does not depend on the machine's speed.
    """

    kind: str
    target: str
    start_s: float
    stop_s: float | None = None
    options: dict[str, float | str] = field(default_factory=dict)
    gated: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ScenarioError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.start_s < 0 or (self.stop_s is not None and self.stop_s <= self.start_s):
            raise ScenarioError(f"fault {self.kind} {self.target}: need 0 <= start_s < stop_s")

    def active(self, t: float) -> bool:
        return self.start_s <= t and (self.stop_s is None or t < self.stop_s)

    @property
    def sites(self) -> tuple[str, ...]:
        """For link faults: the site names in the target."""
        return tuple(x.strip() for x in self.target.replace("->", ",").split(","))


MAX_RPS = 1000.0  # what NAME@RPS accepts: a typo's extra zeros should not reach a lab
SPEC_FORM = ("NAME, NAME@RPS or NAME@RPS/DURATION (RPS requests per second, above 0 and at most "
             f"{MAX_RPS:g}; DURATION seconds, above 0), e.g. dc2-down@200/600")


@dataclass(frozen=True)
class EntryRef:
    """Which catalogue entry a scenario is and at what constant load; `rps` and `duration_s`
    None where the entry's own hold. Runs record it (scenario.json's `entry`), and a run's
    expectations are looked up by it, never by the scenario's display name.

    `spec` is how `--scenario` names it; `parse` reads one back (the catalogue looks it up):

    >>> EntryRef("dc2-down", 200.0, 600.0).spec, EntryRef("baseline", 12.5).spec, EntryRef("baseline").spec
    ('dc2-down@200/600', 'baseline@12.5', 'baseline')
    >>> EntryRef.parse("dc2-down@200/600")
    EntryRef(name='dc2-down', rps=200.0, duration_s=600.0)
    >>> EntryRef.parse("dc2-down@200s")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    harness.scenario.ScenarioError: 'dc2-down@200s': a catalogue scenario is NAME, NAME@RPS or NAME@RPS/DURATION (RPS ...), e.g. dc2-down@200/600
    """

    name: str
    rps: float | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.duration_s is not None and self.rps is None:
            raise ScenarioError(f"{self.name}: a recorded duration needs its rate (NAME@RPS/DURATION)")

    @property
    def spec(self) -> str:
        if self.rps is None:
            return self.name
        return f"{self.name}@{_num(self.rps)}" + ("" if self.duration_s is None else f"/{_num(self.duration_s)}")

    @classmethod
    def parse(cls, text: str) -> EntryRef:
        name, at, params = text.partition("@")
        if not at:
            return cls(name)
        rate, slash, duration = params.partition("/")
        try:
            rps, dur = float(rate), float(duration) if slash else None
        except ValueError:
            rps = dur = math.nan
        # `not <=` rather than `>`: NaN fails every comparison, so it is refused too
        if not 0 < rps <= MAX_RPS or (slash and not 0 < dur < math.inf):
            raise ScenarioError(f"{text!r}: a catalogue scenario is {SPEC_FORM}")
        return cls(name, rps, dur)


def path_part(name: str) -> str:
    """A scenario's name as one path component: NAME@RPS/DURATION's slash would nest a directory.

    >>> path_part("dc2-down@200/600")
    'dc2-down@200_600'
    """
    return name.replace("/", "_")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True)
class Scenario:
    name: str
    load: Load
    faults: tuple[Fault, ...] = ()
    description: str = ""
    entry: EntryRef | None = None  # the catalogue entry it was resolved from; None: a file or made in code

    def with_load(self, rps: float | None = None, duration_s: float | None = None) -> Scenario:
        """A constant-rate copy; fault times scale with the new duration so a fault stays in
        the same part of the run. The entry it records gets the new load."""
        old = self.load.duration_s
        new = duration_s if duration_s is not None else old
        rate = rps if rps is not None else self.load.stages[0].rps
        k = new / old
        faults = tuple(
            dataclasses.replace(f, start_s=f.start_s * k, stop_s=None if f.stop_s is None else f.stop_s * k)
            for f in self.faults
        )
        entry = self.entry and dataclasses.replace(
            self.entry, rps=float(rate), duration_s=float(duration_s) if duration_s is not None else self.entry.duration_s)
        return dataclasses.replace(self, load=Load.constant(rate, new, self.load.mix), faults=faults, entry=entry)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.entry is None:  # explore's files, and any scenario made in code, keep the shape they had
            del d["entry"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scenario:
        """From JSON/TOML data. `load` is either {"rps": R, "duration_s": D} or {"stages": [...]}."""
        try:
            ld = d["load"]
            mix = _mix(ld.get("mix"))
            if "stages" in ld:
                stages = tuple(
                    Stage(float(s["duration_s"]), float(s["rps"])) if isinstance(s, dict) else Stage(*map(float, s))
                    for s in ld["stages"]
                )
                load = Load(stages, mix)
            else:
                load = Load.constant(float(ld["rps"]), float(ld["duration_s"]), mix)
            faults = tuple(
                Fault(
                    f["kind"],
                    str(f["target"]),
                    float(f["start_s"]),
                    None if f.get("stop_s") is None else float(f["stop_s"]),
                    dict(f.get("options", {})),
                    bool(f.get("gated", False)),
                )
                for f in d.get("faults", ())
            )
            ref = d.get("entry")
            entry = None if ref is None else EntryRef(str(ref["name"]), _opt(ref.get("rps")), _opt(ref.get("duration_s")))
            return cls(str(d["name"]), load, faults, str(d.get("description", "")), entry)
        except KeyError as exc:
            raise ScenarioError(f"scenario is missing the field {exc.args[0]!r}") from None


def _opt(x: Any) -> float | None:
    return None if x is None else float(x)


def _mix(raw: Any) -> tuple[tuple[str, float], ...]:
    # TOML and JSON both write a mix most naturally as a table: {rag_query = 0.9, ...}.
    if raw is None:
        return DEFAULT_MIX
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple((str(f), float(w)) for f, w in pairs)


def load(path: str | Path) -> Scenario:
    """Read a scenario from a .json or .toml file."""
    path = Path(path)
    if path.suffix == ".toml":
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    elif path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
    else:
        raise ScenarioError(f"{path}: a scenario file ends in .json or .toml")
    return Scenario.from_dict(data)
