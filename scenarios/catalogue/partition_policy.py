"""Policy updates during a WAN partition: what "update successful" means, and enforcement in
both DCs after heal.

seed: no update is acknowledged while etcd has no quorum (503 naming etcd, nothing lost); after
heal every acknowledged update is in MongoDB, in both etcd members and in both OPAs.
seed+witness: updates the leader's side acknowledges during the cut are loaded by the other
DC's OPA only after heal: "successful" never meant "enforced everywhere".
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("partition-policy", load(40.0, mix=(("rag_query", 0.5), ("policy_update", 0.5))),
                    (Fault("partition", "dc1,dc2", 8.0, 25.0),), __doc__)
EXPECT = {
    "seed": Expect(availability={"rag_query": 0.97}, converge_s=60.0),
    "seed+witness": Expect(availability={"rag_query": 0.97}, converge_s=60.0),
}
