"""LLM key rotation: a new key at the API and in OpenBao, the old one valid for a grace period.

seed: the gateways re-read the key at 3/4 of its 60 s TTL, so a grace longer than the TTL
(75 s here) keeps every LLM call on a valid key; a grace shorter than the TTL would fail
queries between the old key's expiry and the next refresh.
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("key-rotation", load(30.0), (Fault("key-rotation", "", 8.0, 9.0, {"grace_s": 75.0}),), __doc__)
EXPECT = {"seed": Expect(availability={"rag_query": 0.99, "policy_update": 0.99})}
