"""The open model in Locust: one `OpenArrivals` user per load generator fires its share of
the plan's arrivals at their times, each in its own greenlet, whatever the earlier answers
did (k6's constant-arrival-rate, wrk2's fixed rate). At most `max_in_flight / generators`
run at once; an arrival that finds them all busy is recorded at its intended time as a
failed `dropped` op and counted by Locust as a failure, never skipped. Latency runs from
the intended start.
"""

from __future__ import annotations

import math
import time

import gevent
from gevent.pool import Pool
from locust import FastHttpUser, task

from harness.clients.driver import LATE_S
from loadtests import send, session
from loadtests.collect import COLLECTOR, DONE


class OpenArrivals(FastHttpUser):
    """Spawned by the shape only (one per generator), never by -u."""

    max_retries = 0

    def __init__(self, environment) -> None:
        s = session.get(environment)
        self.network_timeout = self.connection_timeout = s.target.request_timeout_s
        self.in_flight = max(1, math.ceil(s.max_in_flight / s.slices))
        self.concurrency = self.in_flight  # the HTTP client pool: one connection per slot
        self.insecure, self.ssl_context_factory = False, session.ssl_context_factory(s.target)
        super().__init__(environment)
        self.s = s
        self._ran = False

    @task
    def run_plan(self) -> None:
        if self._ran:  # Locust would run the task again: the plan runs once, then the user waits to be stopped
            gevent.sleep(3600)
            return
        self._ran = True
        s, env = self.s, self.environment
        plan = s.my_arrivals(env.parsed_options.halab_seed)
        t0 = env.parsed_options.halab_t0
        self._setup()
        pool = Pool(self.in_flight)
        started = dropped = late = 0
        max_lag = 0.0
        for i, at, flow in plan:
            wait = t0 + at - time.time()
            if wait > 0:
                gevent.sleep(wait)
            lag = time.time() - t0 - at
            if pool.full():
                send.dropped(env, s.recorder, i, flow, at)
                dropped += 1
                continue
            started += 1
            late += lag > LATE_S
            max_lag = max(max_lag, lag)
            pool.spawn(self._one, i, flow, at)
        pool.join(timeout=s.target.request_timeout_s + 5)
        COLLECTOR.flush(env.runner)
        env.runner.send_message(DONE, {"slice": s.slice, "requests": started + dropped, "dropped": dropped,
                                       "late_starts": late, "max_start_lag_s": round(max_lag, 4),
                                       "in_flight": self.in_flight})

    def _one(self, i: int, flow: str, at: float) -> None:
        consumer, call = self.s.workload.call(i, flow)
        send.send(self.client, self.s.recorder, self.s.target.keys, self.s.target.site_of, i, consumer, call, at=at)

    def _setup(self) -> None:
        """The workload's own policies exist before the run (unrecorded), in parallel."""
        keys = self.s.target.keys

        def put(consumer, call):
            self.client.request(call.method, call.path, json=call.body, headers={"apikey": keys[consumer]}, name="setup")

        gevent.joinall([gevent.spawn(put, c, call) for c, call in self.s.workload.setup()])
