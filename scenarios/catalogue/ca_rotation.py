"""The lab CA rotated under load (chaos/faults/rotation.py): a new CA trusted beside the old in
every component, then every internal certificate reissued from it, each component taking it by
a reload where its product can (HAProxy, OpenBao, etcd) and by a restart a node at a time where
it cannot, its gateways drained on both LBs first.

seed: no query should fail: while a DC's app node restarts, its gateway is drained and the
other DC answers. Policy updates are another matter on seed: restarting a data node restarts
one of etcd's two members (and one of OpenBao's two), and two members have no majority
without both, so updates get 503s for as long as the member takes to rejoin, twice (once per
pass). A third site (seed+witness) keeps the majority through each restart.
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("ca-rotation", load(120.0), (Fault("ca-rotate", "", 8.0, 9.0),), __doc__)
UNDER_LOAD = True
EXPECT = {"seed": Expect(availability={"rag_query": 0.995, "policy_update": 0.8}, converge_s=60.0)}
