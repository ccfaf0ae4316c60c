"""HalabContainer._wait_ready without an engine: a fake wrapped container and probe.
The probe's errors are "not yet" and the last one is reported; an exit, or the engine's
own error on the container (gone, as when `up` cleans up), ends the wait at once."""

from __future__ import annotations

import time

import docker.errors
import pytest

from harness.containers.base import ContainerExited, ContainerNotReady, HalabContainer


class FakeDocker:
    def __init__(self, statuses) -> None:
        self.statuses = iter(statuses)
        self.status = "created"
        self.attrs = {"State": {"ExitCode": 3}}

    def reload(self) -> None:
        s = next(self.statuses, self.status)
        if isinstance(s, Exception):
            raise s
        self.status = s

    def logs(self) -> bytes:
        return b"booting\nboom\n"


class Probed(HalabContainer):
    component = "probed"

    def _probe(self) -> bool:
        r = next(self.answers, False)
        if isinstance(r, Exception):
            raise r
        return r


def container(statuses=(), answers=(), timeout_s: float = 0.3) -> Probed:
    c = object.__new__(Probed)  # no engine: testcontainers' __init__ would ask one for its version
    c._name, c._ready_timeout, c.ready_seconds = "run-probed-1", timeout_s, None
    c._container = FakeDocker(statuses)
    c.answers = iter(answers)
    return c


def test_ready_once_the_probe_answers() -> None:
    c = container(answers=[ConnectionRefusedError("refused"), False, True])
    c._wait_ready()
    assert c.ready_seconds is not None and c.ready_seconds < 0.3


def test_the_last_probe_error_is_reported_even_after_falsy_answers() -> None:
    c = container(answers=[ConnectionRefusedError("refused"), False, False], timeout_s=0.15)
    with pytest.raises(ContainerNotReady, match=r"probed in run-probed-1 not ready after 0 s "
                                                r"\(ConnectionRefusedError: refused\); logs: booting \| boom"):
        c._wait_ready()


def test_no_error_at_all_says_no_answer_yet() -> None:
    with pytest.raises(ContainerNotReady, match=r"\(no answer yet\)"):
        container(timeout_s=0.05)._wait_ready()


def test_an_exited_container_fails_at_once() -> None:
    c = container(statuses=["running", "exited"], timeout_s=60)
    started = time.monotonic()
    with pytest.raises(ContainerExited, match=r"probed container run-probed-1 exited \(code 3\) before it was ready"):
        c._wait_ready()
    assert time.monotonic() - started < 5 and issubclass(ContainerExited, ContainerNotReady)


def test_a_removed_container_ends_the_wait_at_once() -> None:
    c = container(statuses=["running", docker.errors.NotFound("No such container")], timeout_s=60)
    started = time.monotonic()
    with pytest.raises(docker.errors.NotFound):
        c._wait_ready()
    assert time.monotonic() - started < 5
