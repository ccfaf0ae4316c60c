"""harness.topology.teardown's network removal without an engine: retried while the engine
still holds endpoints (disconnecting what is attached), reported, not fatal, when it never lets go."""

from __future__ import annotations

import logging

import docker.errors
import pytest

from harness.topology import teardown


class FakeNetwork:
    name = "halab-unit-dc1"

    def __init__(self, refusals: int, error: str = "error while removing network: network has active endpoints") -> None:
        self.refusals, self.error = refusals, error
        self.removes = self.disconnects = 0
        self.containers = ["stray"]

    def remove(self) -> None:
        self.removes += 1
        if self.removes <= self.refusals:
            raise docker.errors.APIError(self.error)

    def reload(self) -> None:
        pass

    def disconnect(self, container, force: bool = False) -> None:
        self.disconnects += 1


def test_removed_once_the_engine_lets_go() -> None:
    net = FakeNetwork(refusals=2)
    assert teardown._remove_network(net, timeout_s=5) is True
    assert (net.removes, net.disconnects) == (3, 2)


def test_a_leaked_endpoint_is_reported_and_not_fatal(caplog) -> None:
    net = FakeNetwork(refusals=10**6)
    with caplog.at_level(logging.WARNING, logger=teardown.__name__):
        assert teardown._remove_network(net, timeout_s=0.3) is False
    assert net.removes >= 2 and "keeps an endpoint the engine leaked" in caplog.text


def test_any_other_engine_error_is_raised() -> None:
    with pytest.raises(docker.errors.APIError, match="permission denied"):
        teardown._remove_network(FakeNetwork(refusals=1, error="permission denied"), timeout_s=5)
