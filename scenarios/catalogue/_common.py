"""What the catalogue's scenarios share: a short open-loop load, sized for a 2-core machine
and CI's budget (about a minute a scenario, heal and final reads included)."""

from harness.scenario import Load, Stage

RPS = 6.0  # requests per second
MIX = (("rag_query", 0.8), ("policy_update", 0.2))


def load(duration_s: float = 45.0, rps: float = RPS, mix=MIX) -> Load:
    return Load((Stage(duration_s, rps),), tuple(mix))
