"""Every OpenBao node down: the gateways answer from their cached LLM key.

seed: the gateways re-read the key at 3/4 of its TTL and serve the cached one up to
max-stale (300 s) past its expiry when OpenBao cannot answer, so queries go on while both
nodes are dead (the observer's key-refreshed events count the stale answers); policy updates
do not touch OpenBao. After heal both nodes are unsealed again (the kind's after_restart),
and the next refresh reads a fresh key.
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("vault-down", load(45.0), (Fault("component-down", "vault", 8.0, 35.0),), __doc__)
EXPECT = {"seed": Expect(availability={"rag_query": 0.99, "policy_update": 0.99})}
