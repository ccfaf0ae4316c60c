"""`halab images build`: build what is missing, parents first, never tagging a half-built image.

Each image is built under `halab/<image>:building-<hash>` and retagged to
`halab/<image>:<hash>` only after its recipe returned; on any failure the temporary tag is
removed. An image whose final tag exists is skipped, so a warm rerun takes seconds.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from harness.images.buildenv import BuildEnv, BuildError, exists
from harness.images.catalog import COMPONENTS, IMAGES, images_for, input_hash
from harness.images.hashing import REPOSITORY, final_tag, project_root

SOURCES = ("offline", "official", "auto")
REGISTRY_PROBE_TIMEOUT_S = 5.0

@dataclass(frozen=True)
class Result:
    image: str
    tag: str
    action: str  # built | cached | pulled | failed
    seconds: float
    size: int = 0
    error: str = ""


def build_image(client, image: str, root: Path, progress=print, force: bool = False) -> Result:
    """Build one image (its parents must be built); retag only on success."""
    recipe = IMAGES[image].recipe
    hash_ = input_hash(image, root)
    tag = final_tag(image, hash_)
    started = time.monotonic()
    if not force and exists(client, tag):
        return Result(image, tag, "cached", time.monotonic() - started, client.images.get(tag).attrs["Size"])
    parent_tag = final_tag(recipe.parent, input_hash(recipe.parent, root)) if recipe.parent else None
    if parent_tag and not exists(client, parent_tag):
        raise BuildError(f"parent image {parent_tag} of {image} is missing: run `halab images build {recipe.parent}`")
    # Per process: two builders of one tag (parallel test runs) never remove each other's.
    temp = f"{REPOSITORY}/{image}:building-{hash_}-{os.getpid()}"
    env = BuildEnv(client=client, root=root, image=image, hash=hash_, progress=progress, force=force)
    env.say(f"building {tag} ...")
    try:
        recipe.build(env, temp, parent_tag)
        client.images.get(temp).tag(tag)
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            client.images.remove(temp, noprune=True)
    size = client.images.get(tag).attrs["Size"]
    took = time.monotonic() - started
    env.say(f"built {tag} in {took:.1f} s ({size / 1e6:.0f} MB)")
    return Result(image, tag, "built", took, size)


def registry_answers(client, ref: str, timeout: float = REGISTRY_PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """Whether the engine can pull `ref` within `timeout` seconds (it pulls it if so)."""
    outcome: dict[str, object] = {}

    def pull() -> None:
        try:
            client.images.pull(ref)
            outcome["ok"] = True
        except Exception as exc:  # noqa: BLE001 - any failure means "no registry"
            outcome["error"] = getattr(exc, "explanation", None) or str(exc)

    t = threading.Thread(target=pull, daemon=True)
    t.start()
    t.join(timeout)
    if outcome.get("ok"):
        return True, ""
    return False, str(outcome.get("error") or f"no answer within {timeout:.0f} s")


def build(
    names: list[str] | tuple[str, ...] = (),
    source: str = "offline",
    progress: Callable[[str], None] = print,
    client=None,
    root: Path | None = None,
    force: bool = False,
) -> list[Result]:
    """Build the images the named components need (all default images when none are named)."""
    if source not in SOURCES:
        raise BuildError(f"unknown source {source!r}: choose from {', '.join(SOURCES)}")
    client = client or docker.from_env(timeout=600)
    root = root or project_root()
    wanted = list(names) if names else [name for name, img in IMAGES.items() if img.default]
    order = images_for(wanted)  # raises UnknownComponent first, before anything is built
    results: list[Result] = []
    if source in ("official", "auto"):
        named = list(names) or list(COMPONENTS)
        pullable = [n for n in named if n in COMPONENTS and COMPONENTS[n].official]
        if pullable:
            ref = COMPONENTS[pullable[0]].official
            ok, why = registry_answers(client, ref)
            why = why.strip().splitlines()[0][:160] if why.strip() else "no answer"
            if not ok and source == "official":
                raise BuildError(f"no registry answers for {ref} ({why}): use --source offline (or auto)")
            if ok:
                rest = [n for n in named if n not in pullable]
                results = _pull_official(client, pullable, progress)
                return results + [build_image(client, img, root, progress, force) for img in images_for(rest)]
            progress(f"no registry answers ({why}); building offline")
    for image in order:
        results.append(build_image(client, image, root, progress, force))
    return results


def _pull_official(client, names, progress) -> list[Result]:
    out = []
    for name in names:
        ref = COMPONENTS[name].official
        if not ref:
            continue
        started = time.monotonic()
        progress(f"[{name}] pulling {ref} ...")
        try:
            img = client.images.pull(ref)
        except docker.errors.APIError as exc:
            raise BuildError(f"pulling {ref} failed: {exc.explanation or exc}") from None
        out.append(Result(name, ref, "pulled", time.monotonic() - started, img.attrs["Size"]))
    return out
