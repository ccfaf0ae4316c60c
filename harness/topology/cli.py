"""`halab up`, `halab status`, `halab down` (harness/cli.py maps the names here)."""

from __future__ import annotations

import sys
import time

import click

from harness.spec import PRESETS


def _console():
    from rich.console import Console

    # Piped output (CI logs, `| less`) gets a wide table instead of rich's 80-column default.
    return Console(width=None if sys.stdout.isatty() else 140)


@click.command()
@click.option("--preset", "preset_name", type=click.Choice(sorted(PRESETS)), default="seed", show_default=True)
@click.option("--source", type=click.Choice(["offline", "official", "auto"]), default="auto", show_default=True,
              help="offline: images built here; official: upstream images pulled beforehand; auto: offline if built.")
@click.option("--no-seed", is_flag=True, help="Start and wire everything, seed nothing.")
@click.option("--with-metrics", is_flag=True,
              help="Also start Prometheus (Debian's package), scraping every component of every site every 2 s; "
                   "`halab status` names its URL.")
@click.option("--plain-vip", is_flag=True,
              help="Answer plain HTTP on 127.0.0.1 (the default is HTTPS, trusting the run's ca.pem): for a tool "
                   "that cannot be given a CA. Behind 127.0.0.1 every hop stays TLS.")
def up(preset_name: str, source: str, no_seed: bool, with_metrics: bool, plain_vip: bool) -> None:
    """Start a two-datacenter topology, seed it, print its endpoints and status."""
    import docker

    from harness.doctor import ensure_engine
    from harness.images import ImageNotBuilt
    from harness.spec import preset, validate
    from harness.topology import realise
    from harness.topology import state as st
    from harness.topology import status as stat
    from harness.topology.settings import TopologySettings

    console = _console()
    ensure_engine(progress=console.print)
    settings = TopologySettings()
    current = st.load(settings.state_file)
    client = docker.from_env(timeout=120)
    if current is not None:
        if client.containers.list(filters={"label": f"halab={current.run_id}"}):
            raise click.ClickException(f"topology {current.run_id} is running: `halab down` first")
        st.forget(settings.state_file)
    topology = preset(preset_name)
    for warning in validate_quietly(validate, topology):
        console.print(f"[yellow]warning:[/] {warning}")
    t0 = time.monotonic()
    try:
        lab = realise.up(topology, source=source, progress=console.print, client=client, seed=not no_seed,
                         metrics=with_metrics, plain_vip=plain_vip)
    except (ImageNotBuilt, realise.StartupError) as exc:  # expected failures: one line, not a traceback
        raise click.ClickException(str(exc)) from None
    console.print(f"[bold green]up[/] in {time.monotonic() - t0:.1f} s; state in {settings.state_file}")
    console.print(stat.render(stat.collect(lab.state, client)))


def validate_quietly(validate, topology) -> list[str]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return validate(topology)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--wan", is_flag=True, help="Also list every WAN proxy and the connections it carries.")
def status(as_json: bool, wan: bool) -> None:
    """Show the running topology: components, health, etcd and OpenBao members, WAN proxies."""
    import docker

    from harness.topology import state as st
    from harness.topology import status as stat
    from harness.topology.settings import TopologySettings
    from harness.topology.wan import describe
    from harness.topology.wanlink import WanLink

    state = st.load(TopologySettings().state_file)
    if state is None:
        raise click.ClickException("no topology is running (no state file): `halab up`")
    s = stat.collect(state, docker.from_env(timeout=30))
    if as_json:
        click.echo(stat.as_json(s))
        return
    console = _console()
    console.print(stat.render(s))
    if wan:
        with WanLink.from_state(state) as link:
            console.print("\n".join(describe(link.routes)), highlight=False, markup=False)


@click.command()
@click.option("--run-id", default=None, help="Only this run's resources (default: everything labelled halab).")
def down(run_id: str | None) -> None:
    """Remove every container, network and volume halab started, crashed runs' too."""
    import docker

    from harness.topology import realise
    from harness.topology.teardown import stuck_networks

    client = docker.from_env(timeout=120)
    t0 = time.monotonic()
    n_c, n_n, n_v = realise.down(run_id, client=client)
    click.echo(f"removed {n_c} containers, {n_n} networks, {n_v} volumes in {time.monotonic() - t0:.1f} s")
    stuck = stuck_networks(client, run_id)
    if stuck:
        click.echo(f"the engine would not remove {', '.join(stuck)} (a leaked endpoint; empty, harmless): "
                   "restarting dockerd clears it", err=True)
    sys.stdout.flush()
