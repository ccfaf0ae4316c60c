"""WAN partition between the DCs: both sides alive, every packet between them dropped.

seed: users notice nothing on queries (each DC serves from its own vector node, Atlas and the
LLM stay reachable); both etcd members lose quorum, so every policy update fails. HAProxy
marks no gateway down: the edge reaches both.
seed+witness: the member that still reaches the witness with the leader keeps writing; the
other DC's CMS cannot reach the leader, so only part of the updates fail.
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("wan-partition", load(45.0), (Fault("partition", "dc1,dc2", 10.0, 30.0),), __doc__)
EXPECT = {
    "seed": Expect(availability={"rag_query": 0.97}),
    "seed+witness": Expect(availability={"rag_query": 0.97, "policy_update": 0.4}),
}
