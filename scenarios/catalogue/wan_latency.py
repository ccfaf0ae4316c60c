"""WAN latency 100 ms +- 50 ms one way between the DCs, with etcd's default timeouts
(heartbeat 100 ms, election 1 s): the round trip nears the election timeout.

seed: queries stay local and fast; policy updates pay the WAN round trips to the etcd leader
(several hundred ms). etcd's tuning guide would raise the heartbeat to about the round trip
and the election timeout to 10x it: that variant needs a lab started with other Params
(`Topology.with_params(etcd=EtcdRaft(...))`) and is not in the catalogue's shared labs.
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("wan-latency", load(40.0), (
    Fault("latency", "dc1,dc2", 10.0, 30.0, {"latency_ms": 100.0, "jitter_ms": 50.0}),), __doc__)
EXPECT = {"seed": Expect(availability={"rag_query": 0.97, "policy_update": 0.8})}
