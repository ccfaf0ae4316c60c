"""DC2 down: every DC2 component killed, its WAN listeners dropping packets as a dark DC does.

seed: HAProxy, tuned, marks gateway2 down after three failed checks, 4-6 s (`timeout check`
fails a check of a dead server after the 1 s connect timeout, `fastinter` brings the next
0.5 s later); until then queries sent to DC2 are retried on DC1 after the 1 s connect timeout
(`retries` + `redispatch`), so queries stay up but slow. The etcd and OpenBao pairs lose
quorum: every policy update fails (503 naming etcd) until DC2 is back.
seed+naive-lb: HAProxy as first configured takes 10-12 s (without `timeout check` a check
times out after `inter`, 2 s, and the next comes `inter` after it), and a query sent on a
pooled connection to DC2 waits `timeout server`, 60 s.
seed+witness: the same for queries; etcd keeps a majority with the witness, so updates go on.
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("dc2-down", load(50.0), (Fault("site-down", "dc2", 10.0, 35.0),), __doc__)
EXPECT = {
    "seed": Expect(availability={"rag_query": 0.95}, detection_s=8.0),
    "seed+naive-lb": Expect(availability={"rag_query": 0.95}, detection_s=13.0),
    "seed+witness": Expect(availability={"rag_query": 0.95, "policy_update": 0.8}, detection_s=8.0),
}
