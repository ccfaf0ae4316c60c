"""harness.process.ServiceProcess: a service that exits is reported at once, with its output."""

from __future__ import annotations

import time

import pytest

from harness.process import ServiceProcess


def test_a_service_that_exits_fails_at_once_with_its_output(tmp_path) -> None:
    proc = ServiceProcess("no_such_service", log_dir=tmp_path)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"no_such_service exited 1: .*No module named system.no_such_service"):
        proc.start(timeout=60)
    assert time.monotonic() - started < 30
