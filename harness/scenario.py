"""A scenario as plain data: a load profile and a fault schedule. The harness runs it against
containers, simulation/ runs it against the SimPy model; both produce a history.

    >>> s = preset("dc2-down")
    >>> s.load.rate_at(10.0), s.load.duration_s
    (200.0, 600.0)
    >>> [(f.kind, f.target, f.start_s, f.stop_s) for f in s.faults]
    [('site-down', 'dc2', 120.0, 420.0)]
    >>> longer = s.with_load(rps=50, duration_s=1200)   # fault times scale with the duration
    >>> longer.faults[0].start_s, longer.load.rate_at(0)
    (240.0, 50.0)

The flows are named here once (RAG_QUERY, POLICY_UPDATE, RAG_INGEST); the harness's clients
and the model import the names, and both draw a load's arrivals from `Load.arrivals`.

Fault kinds and their targets are the table in harness/faults.py (`halab faults --kinds`
lists them): a site, a node, a component or a kind, or a link "a,b" / "a->b" / "a".
A fault with stop_s None lasts to the end of the run.
"""

from __future__ import annotations

import dataclasses
import json
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


@dataclass(frozen=True)
class Scenario:
    name: str
    load: Load
    faults: tuple[Fault, ...] = ()
    description: str = ""

    def with_load(self, rps: float | None = None, duration_s: float | None = None) -> Scenario:
        """A constant-rate copy; fault times scale with the new duration so a fault stays in
        the same part of the run."""
        old = self.load.duration_s
        new = duration_s if duration_s is not None else old
        rate = rps if rps is not None else self.load.stages[0].rps
        k = new / old
        faults = tuple(
            dataclasses.replace(f, start_s=f.start_s * k, stop_s=None if f.stop_s is None else f.stop_s * k)
            for f in self.faults
        )
        return dataclasses.replace(self, load=Load.constant(rate, new, self.load.mix), faults=faults)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

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
            return cls(str(d["name"]), load, faults, str(d.get("description", "")))
        except KeyError as exc:
            raise ScenarioError(f"scenario is missing the field {exc.args[0]!r}") from None


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


# --- presets: 10 minutes at 200 requests/s, the fault from minute 2 to minute 7 -------------

_LOAD = Load.constant(200.0, 600.0)
PRESETS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("baseline", _LOAD, (), "No faults: the reference for latency and for `halab calibrate`."),
        Scenario(
            "dc2-down",
            _LOAD,
            (Fault("site-down", "dc2", 120.0, 420.0),),
            "DC2 goes dark (every component killed) and comes back: HAProxy detection, quorum loss on seed.",
        ),
        Scenario(
            "partition",
            _LOAD,
            (Fault("partition", "dc1,dc2", 120.0, 420.0),),
            "The WAN between the DCs is cut: both sides live, two-voter clusters lose write quorum.",
        ),
        Scenario(
            "vault-down",
            _LOAD,
            (Fault("component-down", "vault", 120.0, 420.0),),
            "Every Vault is down: queries live on the gateway's key cache until max-stale runs out.",
        ),
        Scenario(
            "wan-latency",
            _LOAD,
            (Fault("latency", "dc1,dc2", 120.0, 420.0, {"latency_ms": 100.0, "jitter_ms": 20.0}),),
            "The WAN between the DCs slows to 100 ms one-way.",
        ),
    )
}


def preset(name: str) -> Scenario:
    try:
        return PRESETS[name]
    except KeyError:
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(PRESETS)}") from None


def resolve(name_or_path: str) -> Scenario:
    """A preset name or a path to a .json/.toml file (what the CLIs accept)."""
    if name_or_path in PRESETS:
        return PRESETS[name_or_path]
    if Path(name_or_path).suffix in (".json", ".toml"):
        return load(name_or_path)
    return preset(name_or_path)
