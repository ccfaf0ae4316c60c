"""What each arrival of a load does, the same for `halab measure` and for Locust
(loadtests/): the user, the question, the policy, the document, from the seed.

A rag_query asks one of the sample corpus's questions as one of the seeded users, whose
groups differ, so ACL filtering is exercised. A policy_update publishes a new version of one
of eight policies of its own (`<prefix>-0`..`-7`) through the admin consumer, so the
platform's default policy is never touched; consecutive updates go to different policies,
because two updates of one policy at once are a real conflict (409, recorded as `fail`) but
not what a load is for. A rag_ingest adds a small document as the editor, readable by staff.

    >>> w = Workload(seed=0)
    >>> [w.call(i, "rag_query")[0] for i in range(3)] == [w.call(i, "rag_query")[0] for i in range(3)]
    True
    >>> consumer, call = w.call(7, "policy_update"); consumer, call.path
    ('admin', '/cms/policies/measure-0')
    >>> w.call(8, "rag_ingest")[1].body["acl_groups"], w.call(8, "rag_ingest")[0]
    (['staff'], 'erin')
"""

from __future__ import annotations

import itertools
import random
import threading

from harness.clients import lab
from harness.scenario import POLICY_UPDATE, RAG_INGEST, RAG_QUERY
from harness.seed_data import CORPUS, USERS

POLICIES = 8
QUESTIONS = tuple(d.title + "?" for d in CORPUS)
USERS_ASKING = tuple(u.name for u in USERS if u.role == "user")
ADMIN = next(u.name for u in USERS if u.role == "admin")
EDITOR = next(u.name for u in USERS if "editors" in u.groups)


def policy(n: int, prefix: str = "measure") -> tuple[str, str]:
    """The n-th update: (policy id, Rego); the content changes each time (an unchanged
    policy is not a new version)."""
    k = n % POLICIES
    return f"{prefix}-{k}", f"package halab.{prefix.replace('-', '_')}{k}\n\nupdates := {n}\n"


class Workload:
    """Calls for arrivals, deterministic for a seed. `prefix` names the policies and documents
    (one per load generator: two generators updating one policy would conflict)."""

    def __init__(self, seed: int = 0, prefix: str = "measure") -> None:
        rng = random.Random(seed)
        self.picks = [(rng.choice(USERS_ASKING), rng.choice(QUESTIONS)) for _ in range(64)]
        self.prefix = prefix
        self._updates = itertools.count(POLICIES)
        self._lock = threading.Lock()

    def setup(self) -> list[tuple[str, lab.Call]]:
        """Calls to make before the run, unrecorded, so every recorded update is an update."""
        return [(ADMIN, lab.policy_update(*policy(n, self.prefix))) for n in range(POLICIES)]

    def call(self, i: int, flow: str) -> tuple[str, lab.Call]:
        """(consumer, call) for arrival `i` of `flow`."""
        if flow == RAG_QUERY:
            user, question = self.picks[i % len(self.picks)]
            return user, lab.rag_query(user, question)
        if flow == POLICY_UPDATE:
            with self._lock:
                n = next(self._updates)
            return ADMIN, lab.policy_update(*policy(n, self.prefix))
        if flow == RAG_INGEST:
            doc_id = f"{self.prefix}-doc-{i}"
            text = f"Load document {i}. " + CORPUS[i % len(CORPUS)].text
            return EDITOR, lab.rag_ingest(doc_id, f"Load document {i}", text, ("staff",))
        raise ValueError(f"no calls for flow {flow!r}")
