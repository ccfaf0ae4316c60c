"""`halab demo`: the whole story in one command. Bring up a preset, run the catalogue's DC2-down
scenario under Locust's load with the model's prediction beside it, write the report, tear
everything down (Ctrl-C and SIGTERM included), print the report's path.

It composes every layer (images, topology, nemesis, load, model, reports), so it lives at the
top one, the load's.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click

SCENARIO = "dc2-down"


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM: stop what runs, then tear down."""


@dataclass(frozen=True)
class DemoResult:
    run_dir: Path
    report: Path
    valid: bool | None
    seconds: dict[str, float]


@contextlib.contextmanager
def teardown_on_signals(say: Callable[[str], None]) -> Iterator[None]:
    """The first SIGINT/SIGTERM raises Interrupted; later ones only say that teardown is on its
    way, so that a second Ctrl-C cannot leave containers behind."""
    def first(signum, _frame):
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, later)
        say(f"{signal.Signals(signum).name}: stopping")
        raise Interrupted

    def later(_signum, _frame):
        say("still tearing down: one moment (or `halab down` from another shell)")

    old = {s: signal.signal(s, first) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_demo(preset_name: str, out: Path, *, seed: int = 0, keep: bool = False,
             say: Callable[[str], None] = print) -> DemoResult:
    """Every step of the demo; the lab is removed before this returns or raises, unless `keep`."""
    import docker

    from chaos.catalogue import run_entry
    from harness.doctor import ensure_engine
    from harness.images.build import build as build_images
    from harness.labels import new_run_id
    from harness.spec import preset
    from harness.topology import realise
    from harness.topology import state as st
    from harness.topology.settings import TopologySettings
    from loadtests.run import under_load
    from reports.run_report import build as build_report
    from scenarios.catalogue import entry
    from scenarios.checkers.verdict import compose

    e = entry(SCENARIO)
    if preset_name not in e.expect:
        raise click.BadParameter(f"{SCENARIO} has expectations for {', '.join(e.presets)} only", param_hint="--preset")
    seconds: dict[str, float] = {}
    ensure_engine(progress=say)
    client = docker.from_env(timeout=600)
    settings = TopologySettings()
    current = st.load(settings.state_file)
    if current is not None and client.containers.list(filters={"label": f"halab={current.run_id}"}):
        raise click.ClickException(f"topology {current.run_id} is running: the demo starts its own "
                                   "(`halab down` first, or `halab chaos run dc2-down` on that one)")
    t = time.monotonic()
    say("1/4 images (unchanged ones are kept) ...")
    build_images(source="offline", progress=say, client=client)
    seconds["images"] = time.monotonic() - t
    run_id = new_run_id("demo")
    try:
        t = time.monotonic()
        say(f"2/4 bringing up {preset_name} (run {run_id}) ...")
        lab = realise.up(preset(preset_name), run_id=run_id, progress=say, client=client)
        seconds["up"] = time.monotonic() - t
        say(f"    up in {seconds['up']:.0f} s; VIP {lab.state.vip_url}")
        t = time.monotonic()
        faults = "; ".join(f"{f.kind} {f.target} from {f.start_s:g} s" for f in e.scenario.faults)
        say(f"3/4 {SCENARIO} under Locust's load ({e.scenario.load.duration_s:.0f} s; {faults}); "
            "heal, recovery and final reads follow ...")
        load = under_load(out, on_progress=lambda p: say(
            f"    [{p.elapsed_s:4.0f} s / {p.duration_s:.0f} s] {p.requests:,} requests, {p.failures:,} failed, "
            f"{p.dropped:,} dropped"))
        result, verdicts = run_entry(lab, e, seed=seed, out=out, load=load)
        seconds["scenario"] = time.monotonic() - t
        for v in verdicts:
            say(f"    {str(v.valid):<7} {v.name:<16} {v.why}")
        for err in result.errors:
            say(f"    nemesis: {err}")
    finally:
        if keep:
            say(f"keeping the lab (run {run_id}): `halab status`, `halab chaos run NAME`; `halab down` removes it")
        else:
            t = time.monotonic()
            say("tearing down ...")
            n_c, n_n, n_v = realise.down(run_id, client=client)
            seconds["down"] = time.monotonic() - t
            say(f"    removed {n_c} containers, {n_n} networks, {n_v} volumes in {seconds['down']:.0f} s")
    say("4/4 report ...")
    w = build_report(out)
    return DemoResult(out, w.html, compose(verdicts), seconds)


@click.command()
@click.option("--preset", "preset_name", type=click.Choice(["seed", "seed+witness"]), default="seed", show_default=True,
              help="seed+witness keeps etcd's majority with DC2 down: policy updates go on.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the arrivals, users and questions.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Run directory, the report inside it [reports/out/demo-<preset>-<UTC time>].")
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards (also when interrupted), for `halab status` "
              "and more scenarios; `halab down` removes it.")
def demo(preset_name: str, seed: int, out_dir: str | None, keep: bool) -> None:
    """The whole story in one command, on a fresh machine too: build what images are missing,
    bring up PRESET, kill DC2 for 25 s under Locust's open-model load with the SimPy model's
    prediction beside the measurement, write the report, tear everything down (Ctrl-C
    included; not with --keep), and print the report's path. About 90 s once the images exist.

    Exits 1 when a checker's verdict is false (the report says which)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(out_dir or f"reports/out/demo-{preset_name.replace('+', '-')}-{stamp}")
    say = click.echo  # it flushes: progress shows in a piped log too
    t0 = time.monotonic()
    try:
        with teardown_on_signals(say):
            r = run_demo(preset_name, out, seed=seed, keep=keep, say=say)
    except Interrupted:
        say(f"interrupted; {'the lab is left up' if keep else 'nothing left running'}. Partial run directory: {out}")
        raise SystemExit(130) from None
    except Exception as exc:  # expected failures (images, start-up, Locust): one line, after the teardown
        from harness.images.buildenv import BuildError
        from harness.topology.realise import StartupError
        from loadtests.run import LoadError

        if isinstance(exc, BuildError | StartupError | LoadError):
            raise click.ClickException(str(exc)) from None
        raise
    figures = ", ".join(f"{k} {v:.0f} s" for k, v in r.seconds.items())
    say(f"valid: {r.valid}   ({figures}; {time.monotonic() - t0:.0f} s in all)")
    say(f"report: {r.report}")
    if r.valid is False:
        raise SystemExit(1)
