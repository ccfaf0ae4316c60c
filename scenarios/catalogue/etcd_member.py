"""An etcd member killed and rejoined, then etcd compacted: policy_sync resyncs.

seed: with etcd2 dead the pair has no quorum, so policy updates fail until it rejoins; after
the compaction a watch behind the compacted revision must resync from a full read. After heal
every OPA holds every acknowledged policy.
seed+witness: the other two keep a majority, so updates through DC1 go on while etcd2 is
down; but DC2's CMS and policy_sync know only their own DC's member (one endpoint each, as
the lab configures them), so DC2's updates fail and DC2's OPA stays behind until etcd2 is
back (measured: 9 of ~55 updates failed, DC2's propagation p99 ~14 s). Clients configured
with every member's endpoint would ride it out: a finding about the deployment, not etcd.
Worse when DC2 has updates in flight at the kill (a CI run, 2026-12-02): 8 ended unknown
(503 "unknown"), and their pending claims made DC1's CMS, whose etcd could commit, answer
409 to the next 10 updates of those policies until the reconciler settled them: 29 of 56
updates failed. That is an outage reported as a conflict, the CMS's to fix (settle a claim
older than its writer's deadline inline, or answer 503 for it); the bound below is what the
deployment does today, not what it should.
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
    "seed+witness": Expect(availability={"rag_query": 0.97, "policy_update": 0.4}, converge_s=60.0),
}
