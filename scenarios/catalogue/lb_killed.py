"""The LB holding the VIP killed: keepalived moves the VIP to the other LB.

seed: the backup takes the VIP after the master-down interval (3 x advert 1 s + skew, 3.6 s);
requests in that gap fail to connect, then everything answers through the other LB.
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("lb-killed", load(35.0), (Fault("component-down", "lb1", 10.0, 25.0),), __doc__)
_VIP_MOVES = Expect(availability={"rag_query": 0.85, "policy_update": 0.8})
EXPECT = {"seed": _VIP_MOVES, "seed+witness": _VIP_MOVES}  # the witness changes nothing at the edge
