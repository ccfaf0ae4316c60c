"""LLM 429 storm, then an outage (hangs): what a user gets while the external API misbehaves.

seed: the RAG service backs off on 429 (Retry-After opens its circuit breaker), gives up on a
hanging LLM after its 4 s deadline, and answers with the retrieved sources and a `degraded`
reason instead of failing or hanging; while the breaker is open it does not call the LLM at
all. Measured: 0 failed queries, 118 of ~220 answered degraded, p99 4.1 s (before the breaker
and the degraded answer: 54 % of the queries failed and the hung ones held the user).
"""

from harness.scenario import Fault, Scenario
from scenarios.catalogue._common import load
from scenarios.expect import Expect

SCENARIO = Scenario("llm-storm", load(45.0), (
    Fault("llm-429", "", 8.0, 20.0, {"rate": 1.0, "retry_after_s": 2}),
    Fault("llm-hang", "", 22.0, 32.0, {"rate": 1.0}),
), __doc__)
# p99: the RAG service's LLM deadline (4 s) plus the query's other steps.
EXPECT = {"seed": Expect(availability={"rag_query": 0.95}, p99_s={"rag_query": 6.0})}
