"""An etcd member killed and rejoined, then etcd compacted: policy_sync resyncs.

seed: with etcd2 dead the pair has no quorum, so policy updates fail until it rejoins; after
the compaction a watch behind the compacted revision must resync from a full read. After heal
every OPA holds every acknowledged policy.
seed+witness: the other two keep a majority, so updates go on while etcd2 is down: every
service is given every member (local first) and fails over as etcd's own clients do, so DC2's
CMS and policy_sync move to etcd1 or the witness's etcd3 through the WAN. Measured: every
update succeeded, DC2's propagation p99 1.7 s (with one endpoint each, as the lab first
configured them: 9 of ~55 updates failed and DC2's p99 was ~14 s; with DC2 updates in flight
at the kill, their pending claims made DC1's CMS answer 409 to 10 more: 29 of 56 failed; a
claim older than its writer's deadline is now answered 503, never 409).
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("etcd-member", load(45.0), (
    Fault("component-down", "etcd2", 8.0, 22.0),
    Fault("etcd-compact", "", 28.0, 29.0),
), __doc__)
EXPECT = {
    "seed": Expect(availability={"rag_query": 0.97}, converge_s=60.0),
    "seed+witness": Expect(availability={"rag_query": 0.97, "policy_update": 0.7}, converge_s=60.0),
}
