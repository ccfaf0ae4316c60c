"""The chaos catalogue on real labs: every scenario on every preset it names, judged by its
expectations. One lab per preset serves every scenario (each heals it and waits for health
first); the seed runs come first, then the other presets, one lab at a time.

A scenario with `XFAIL` states what the architecture should do and the lab shows it does not
yet; its test is a strict xfail: it fails loudly the day the lab starts to pass it. A
scenario marked `UNDER_LOAD` runs under a background Locust load (loadtests/run.py).
"""

from __future__ import annotations

import pytest

from scenarios.catalogue import CATALOGUE
from scenarios.checkers.verdict import compose

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(600)]

PRESET_ORDER = ("seed", "seed+etcd-tuned", "seed+naive-lb", "seed+witness")
CASES = [pytest.param(e, p, id=f"{p}:{e.name}",
                      marks=[pytest.mark.xfail(reason=e.xfail, strict=True)] if e.xfail else [])
         for p in PRESET_ORDER for e in CATALOGUE.values() if p in e.presets]


@pytest.fixture(scope="module")
def catalogue_labs(labs):
    """The session's labs; the last preset's goes when the catalogue ends, not with the
    session, so the tests after this module run on two cores without an idle lab beside them."""
    yield labs
    labs.close()


def test_every_preset_of_the_catalogue_runs():
    assert {p for e in CATALOGUE.values() for p in e.presets} <= set(PRESET_ORDER)


@pytest.mark.parametrize("entry, preset", CASES)
def test_scenario(entry, preset, catalogue_labs):
    from chaos.catalogue import out_dir, run_entry

    lab = catalogue_labs.get(preset)
    out = out_dir(entry, preset)
    load = None
    if entry.under_load:
        from loadtests.run import under_load

        load = under_load(out)
    result, verdicts = run_entry(lab, entry, out=out, load=load)
    summary = {v.name: (v.valid, v.figures) for v in verdicts}
    print(f"{preset}:{entry.name} -> {result.out}: {summary}")
    assert not result.errors, result.errors
    assert compose(verdicts) is True, {k: v for k, v in summary.items() if v[0] is not True}
