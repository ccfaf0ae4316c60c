"""WAN latency 100 ms +- 50 ms one way between the DCs, with etcd's default timeouts
(heartbeat 100 ms, election 1 s): the round trip nears the election timeout.

seed: queries stay local and fast; policy updates pay the WAN round trips to the etcd leader
(several hundred ms), and with a heartbeat (100 ms) below the round trip the follower may
call elections, each a moment without a leader.
seed+etcd-tuned: etcd's tuning guide's answer, heartbeat 300 ms and election timeout 3 s:
no spurious elections; updates still pay the round trips.
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("wan-latency", load(40.0), (
    Fault("latency", "dc1,dc2", 10.0, 30.0, {"latency_ms": 100.0, "jitter_ms": 50.0}),), __doc__)
EXPECT = {
    "seed": Expect(availability={"rag_query": 0.97, "policy_update": 0.8}),
    "seed+etcd-tuned": Expect(availability={"rag_query": 0.97, "policy_update": 0.8}),
}
