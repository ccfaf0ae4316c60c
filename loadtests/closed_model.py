"""Locust's closed model, as Locust users expect it: -u users, each sending a request,
waiting for the answer, thinking, and sending the next. It is an option, and a run says it
is one: a slow or failed-over system gets less load from it, so an outage shows up as fewer
requests rather than as failures (coordinated omission). The open model (open_model.py) is
what the lab measures with.

RagUser queries often and, as the editor, ingests now and then; each user is one of the
seeded users, whose groups differ, so ACL filtering is exercised. AdminUser lists and reads
policies and updates one now and then.
"""

from __future__ import annotations

import itertools
import random

from locust import FastHttpUser, between, task

from harness.clients import lab
from harness.clients.workload import ADMIN, QUESTIONS, USERS_ASKING
from harness.scenario import POLICY_UPDATE, RAG_INGEST
from loadtests import send, session

_numbers = itertools.count()


class _LabUser(FastHttpUser):
    abstract = True
    max_retries = 0
    wait_time = between(1, 3)  # replaced from --halab-think on start
    insecure = False  # FastHttpUser's default skips certificate checks

    def __init__(self, environment) -> None:
        self.ssl_context_factory = session.ssl_context_factory(session.get(environment).target)
        super().__init__(environment)

    def on_start(self) -> None:
        self.s = session.get(self.environment)
        self.n = next(_numbers)
        self.process = f"{self.s.slice}-{type(self).__name__}-{self.n}"
        self.rng = random.Random(f"{self.environment.parsed_options.halab_seed}:{self.process}")
        lo, hi = self.s.plan.think
        self.wait_time = lambda: self.rng.uniform(lo, hi)

    def send(self, consumer: str, call: lab.Call) -> None:
        t = self.s.target
        send.send(self.client, self.s.recorder, t.keys, t.site_of, self.process, consumer, call)


class RagUser(_LabUser):
    weight = 19

    def on_start(self) -> None:
        super().on_start()
        self.user = USERS_ASKING[self.n % len(USERS_ASKING)]

    @task(18)
    def query(self) -> None:
        self.send(self.user, lab.rag_query(self.user, self.rng.choice(QUESTIONS)))

    @task(1)
    def ingest(self) -> None:
        consumer, call = self.s.workload.call(self.rng.randrange(1 << 30), RAG_INGEST)
        self.send(consumer, call)


class AdminUser(_LabUser):
    fixed_count = 1

    @task(4)
    def list_policies(self) -> None:
        self.send(ADMIN, lab.read("policy_list", "/cms/policies"))

    @task(4)
    def read_policy(self) -> None:
        self.send(ADMIN, lab.read("policy_read", "/cms/policies/authz"))

    @task(1)
    def update_policy(self) -> None:
        self.send(*self.s.workload.call(0, POLICY_UPDATE))
