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
    from harness.images.buildenv import BuildError
    from harness.images.catalog import UnknownComponent, images_for

    started = time.monotonic()
    try:
        images_for(components)  # an unknown name fails here, before Docker is even asked
    except UnknownComponent as exc:
        raise click.ClickException(str(exc)) from None
    client = _client()
    try:
        results = do_build(components, source=source, progress=_err, client=client, force=force)
    except (BuildError, UnknownComponent) as exc:
        raise click.ClickException(str(exc)) from None
    for r in results:
        click.echo(f"{r.action:7} {r.tag:40} {r.size / 1e6:7.0f} MB {r.seconds:7.1f} s")
    built = sum(r.action in ("built", "pulled") for r in results)
    click.echo(f"{len(results)} images, {built} built, {len(results) - built} cached, in {time.monotonic() - started:.1f} s")


@images.command(name="list")
def list_() -> None:
    """Every component: its source (offline, official or missing = not built), tag, size; then every image."""
    from harness.images.buildenv import exists
    from harness.images.catalog import COMPONENTS, IMAGES, tag_for

    client = _client()
    tags = {name: tag_for(name) for name in IMAGES}
    sizes: dict[str, str] = {}
    for name, tag in tags.items():
        sizes[name] = f"{client.images.get(tag).attrs['Size'] / 1e6:.0f} MB" if exists(client, tag) else "-"
    shared: dict[str, list[str]] = {}
    for c in COMPONENTS.values():
        shared.setdefault(c.image, []).append(c.name)
    click.echo(f"{'component':12} {'source':8} {'size':>7}  {'tag':34} official reference")
    for c in COMPONENTS.values():
        if sizes[c.image] != "-":
            source, tag, size = "offline", tags[c.image], sizes[c.image]
        elif c.official and exists(client, c.official):
            source, tag = "official", c.official
            size = f"{client.images.get(c.official).attrs['Size'] / 1e6:.0f} MB"
        else:
            source, tag, size = "missing", tags[c.image], "-"
        note = ""
        if len(shared[c.image]) > 1:
            note = f"  (shares {c.image} with {', '.join(n for n in shared[c.image] if n != c.name)})"
        click.echo(f"{c.name:12} {source:8} {size:>7}  {tag:34} {c.official or '(none: always built)'}{note}")
    click.echo("")
    click.echo(f"{'image':12} {'built':5} {'size':>7}  {'tag':34} recipe")
    for name, img in IMAGES.items():
        built = "yes" if sizes[name] != "-" else "no"
        extra = "" if img.default else " [optional]"
        click.echo(f"{name:12} {built:5} {sizes[name]:>7}  {tags[name]:34} {img.summary}{extra}")


@images.command()
@click.argument("components", nargs=-1)
def check(components: tuple[str, ...]) -> None:
    """Start each component's image alone on an internal network and wait for its own health signal."""
    from harness.images.catalog import UnknownComponent, component
    from harness.images.check import check as do_check

    started = time.monotonic()
    try:
        for name in components:
            component(name)
    except UnknownComponent as exc:
        raise click.ClickException(str(exc)) from None
    client = _client()

    def show(r) -> None:
        status = "ok  " if r.ok else "FAIL"
        line = f"{status} {r.component:12} {r.seconds:5.1f} s  {r.signal}"
        if r.detail:
            line += f" — {r.detail}"
        click.echo(line)

    try:
        results = do_check(components, progress=show, client=client)
    except UnknownComponent as exc:
        raise click.ClickException(str(exc)) from None
    failed = [r.component for r in results if not r.ok]
    click.echo(f"{len(results) - len(failed)}/{len(results)} ok in {time.monotonic() - started:.1f} s")
    if failed:
        raise click.ClickException(f"check failed for {', '.join(failed)}: see the lines above")


@images.command()
@click.option("--dry-run", is_flag=True, help="Only show what would be removed.")
def prune(dry_run: bool) -> None:
    """Remove halab/* images whose tag is not the current input hash (old builds)."""
    from harness.images.catalog import IMAGES, tag_for
    from harness.images.hashing import REPOSITORY

    client = _client()
    current = {tag_for(name) for name in IMAGES}
    stale = sorted(
        tag
        for img in client.images.list(name=f"{REPOSITORY}/*")
        for tag in img.tags
        if tag.startswith(f"{REPOSITORY}/") and tag not in current
    )
    for tag in stale:
        click.echo(("would remove " if dry_run else "removing ") + tag)
        if not dry_run:
            try:
                client.images.remove(tag)
            except Exception as exc:  # noqa: BLE001 - in use by a container, say
                click.echo(f"  kept {tag}: {exc}", err=True)
    click.echo(f"{len(stale)} stale tags{' (dry run)' if dry_run else ' removed'}")
