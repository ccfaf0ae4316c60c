"""WAN partition between the DCs: both sides alive, every packet between them dropped.

seed: users notice nothing on queries (each DC serves from its own vector node, Atlas and the
LLM stay reachable); both etcd members lose quorum, so every policy update fails. HAProxy
marks no gateway down: the edge reaches both.
seed+witness: it depends on where the etcd leader is. With the witness's member leading, both
DCs still reach it and every update goes on (measured: 0 of ~45 failed); with a DC's member
leading, the other DC's member cannot reach it and that DC's updates fail.
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("wan-partition", load(45.0), (Fault("partition", "dc1,dc2", 10.0, 30.0),), __doc__)
EXPECT = {
    "seed": Expect(availability={"rag_query": 0.97}),
    "seed+witness": Expect(availability={"rag_query": 0.97, "policy_update": 0.4}),
}
