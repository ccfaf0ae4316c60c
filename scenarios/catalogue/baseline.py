"""Baseline under load: no fault. Everything answers; the reference for every other run."""

from harness.scenario import Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("baseline", load(30.0), (), __doc__)
# No fault: every preset is held to the same (and `halab fidelity` calibrates from it on any).
_EXPECT = Expect(availability={"rag_query": 0.99, "policy_update": 0.99}, p99_s={"rag_query": 5.0})
EXPECT = {"seed": _EXPECT, "seed+witness": _EXPECT}
