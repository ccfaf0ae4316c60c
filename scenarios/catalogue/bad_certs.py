"""Certificates gone wrong: etcd2's expired, then gateway2's from another CA, each restarted.

seed: etcd1 refuses etcd2's expired certificate, so the pair has no quorum and every policy
update fails (503 naming etcd) until etcd2 has a valid one again, as with etcd2 killed; the
queries go on. Then gateway2 comes back serving a certificate from another CA: HAProxy's
checks fail its verification and mark it down, and it cannot log in to etcd (etcd refuses
its client certificate), so the queries go to gateway1. Healing issues fresh certificates
from the run's CA with the same names; both rejoin, and every OPA holds every acknowledged
policy.
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("bad-certs", load(55.0), (
    Fault("cert-expired", "etcd2", 8.0, 22.0),
    Fault("cert-foreign", "gateway2", 28.0, 42.0),
), __doc__)
EXPECT = {"seed": Expect(availability={"rag_query": 0.97}, converge_s=60.0)}
