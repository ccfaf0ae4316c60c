"""`halab doctor`: is there a Docker engine, and if not, get one."""

from __future__ import annotations

import time

import click

from harness.docker_engine import EngineUnavailable, ensure_engine, ensure_fault_tools


@click.command()
def doctor() -> None:
    """Check that a Docker daemon answers.

    When none does and this runs as root on Debian, install `docker.io`, start `dockerd`
    (log in /var/log/halab/dockerd.log) and wait until it answers. Also installs iptables
    and nsenter, with which the nemesis makes network faults inside containers.
    """
    started = time.monotonic()
    try:
        info = ensure_engine(progress=lambda msg: click.echo(msg, err=True))
        ensure_fault_tools(progress=lambda msg: click.echo(msg, err=True))
    except EngineUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    how = "started" if info.started_by_us else "running"
    click.echo(
        f"docker engine {info.server_version} ({info.storage_driver}) {how}; "
        f"checked in {time.monotonic() - started:.1f} s"
    )
