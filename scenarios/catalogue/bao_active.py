"""OpenBao's active node killed, then every OpenBao node sealed: the gateways' key cache
(fresh 60 s, served stale up to 300 s) carries the LLM calls.

seed: queries keep their LLM key from the cache through both faults; no query fails for
want of a key. The Raft pair cannot elect a new leader without the killed node (two voters).
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("bao-active", load(45.0), (
    Fault("bao-active-down", "", 8.0, 20.0),
    Fault("bao-sealed", "vault", 24.0, 36.0),
), __doc__)
EXPECT = {"seed": Expect(availability={"rag_query": 0.99, "policy_update": 0.95})}
