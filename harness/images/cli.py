"""`halab images build|list|check`."""

from __future__ import annotations

import time

import click

SOURCE_HELP = "offline: build from packages; official: pull upstream images; auto: official if a registry answers."


@click.group()
def images() -> None:
    """Build, list and check the image of every component (DESIGN.md section 2)."""


def _client():
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except DockerException as exc:
        raise click.ClickException(f"no Docker engine answers ({exc.__class__.__name__}): run `halab doctor`") from None
    return client


def _err(msg: str) -> None:
    click.echo(msg, err=True)


@images.command()
@click.option("--source", type=click.Choice(["offline", "official", "auto"]), default="offline", show_default=True,
              help=SOURCE_HELP)
@click.option("--force", is_flag=True, help="Rebuild even when an image with the same input hash exists.")
@click.argument("components", nargs=-1)
def build(source: str, force: bool, components: tuple[str, ...]) -> None:
    """Build the images for COMPONENTS (default: every default image); unchanged ones are skipped.

    A COMPONENT is a name from `halab images list` (lb, etcd, cms, ...) or an image name
    (base, python-deps, python, python-embed, ...).
    """
    from harness.images.build import build as do_build
    from harness.images.catalog import UnknownComponent
    from harness.images.recipes import BuildError

    started = time.monotonic()
    client = _client()
    try:
        results = do_build(components, source=source, progress=_err, client=client, force=force)
    except (BuildError, UnknownComponent) as exc:
        raise click.ClickException(str(exc)) from None
    for r in results:
        click.echo(f"{r.action:7} {r.tag:40} {r.size / 1e6:7.0f} MB {r.seconds:7.1f} s")
    built = sum(r.action in ("built", "pulled") for r in results)
    click.echo(f"{len(results)} images, {built} built, {len(results) - built} cached, in {time.monotonic() - started:.1f} s")
