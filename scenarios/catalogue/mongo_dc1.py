"""MongoDB ("Atlas") unreachable from DC1: DC1's RAG and CMS lose their managed database.

seed: DC1's gateway stays healthy for HAProxy (its /healthz does not ask Atlas), so about half
of the queries still go to DC1 and fail there once the RAG's MongoDB call times out; policy
updates through DC1's CMS fail too. A readiness check that included Atlas would move users to
DC2: the lab shows the cost of the health check's shallowness.
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("mongo-dc1", load(40.0), (Fault("mongo-unreachable", "dc1", 10.0, 25.0),), __doc__)
EXPECT = {"seed": Expect(availability={"rag_query": 0.6})}
