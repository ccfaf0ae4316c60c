"""`--source offline|official|auto`: which local image each component runs from.

offline: the image built from this checkout's inputs (`halab images build`); official: the
upstream reference image, pulled beforehand (`halab images build --source official`), for
components that have one; auto: offline if built, else official (harness.images.image_for).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from harness.images import COMPONENTS, ImageNotBuilt, component, image_for, tag_for

SOURCES = ("offline", "official", "auto")


def resolver(client, source: str = "auto") -> Callable[[str], str]:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")

    def exists(tag: str) -> bool:
        try:
            client.images.get(tag)
            return True
        except Exception:  # noqa: BLE001 - ImageNotFound or an odd tag: not usable either way
            return False

    @cache
    def resolve(name: str) -> str:
        if source == "auto":
            return image_for(name, client)
        offline = tag_for(component(name).image)
        official = COMPONENTS[name].official
        tag = official if (source == "official" and official) else offline
        if not exists(tag):
            how = "--source official" if tag == official else ""
            raise ImageNotBuilt(f"image {tag} for {name} is not in the engine: run `halab images build {how} {name}`".replace("  ", " "))
        return tag

    return resolve
