"""The model covers the kind table (harness/kinds.py): a kind without a service time is a KeyError
at `halab simulate`, one without a start-up time comes back at once after a fault. Which kinds
need which is params.gaps'."""

from __future__ import annotations

import pytest

from harness.kinds import KINDS, Kind, Probe
from simulation.params import ModelParams, gaps


def test_every_kind_of_the_table_has_what_the_model_needs() -> None:
    assert gaps() == [], "\n".join(gaps())


def test_a_new_kind_without_them_is_named_with_where_to_add_it() -> None:
    table = {**KINDS, "kafka": Kind("kafka", "data", {"client": 9092}, "kafka", Probe("client", None))}
    assert gaps(table) == ["kind 'kafka' has no service time: add it to STATIONS in simulation/params.py",
                           "kind 'kafka' has no start-up time: add it to STARTUP_S in simulation/params.py"]


def test_an_external_kind_needs_a_service_time_only_and_the_lb_neither() -> None:
    table = {**KINDS, "api": Kind("api", "external", {"http": 443}, "api", Probe("http")),
             "lb2": Kind("lb2", "lb", {"http": 80}, "lb", Probe("monitor"))}
    assert gaps(table) == ["kind 'api' has no service time: add it to STATIONS in simulation/params.py"]


def test_an_entry_for_no_kind_is_named() -> None:
    table = {k: v for k, v in KINDS.items() if k != "opa"}
    assert gaps(table) == ["STATIONS names 'opa', no kind of harness/kinds.py",
                           "STARTUP_S names 'opa', no kind of harness/kinds.py"]


def test_a_missing_station_says_where_to_add_it() -> None:
    with pytest.raises(KeyError, match="add it to STATIONS"):
        ModelParams(stations={}).station("kafka")
