"""halab's images: the catalog of every component, offline recipes, input-hash tags.

Other code asks for a component's image by name and gets the tag of the image built from
the current inputs (or a clear error saying how to build it):

    >>> from harness.images import image_for
    >>> image_for("etcd")          # doctest: +SKIP
    'halab/etcd:3f2a9c1d0b7e'

`halab images build|list|check` (harness/images/cli.py) drive the rest.
"""

from __future__ import annotations

from harness.images.catalog import COMPONENTS, IMAGES, PYTHON_SERVICES, UnknownComponent, component, input_hash, tag_for


class ImageNotBuilt(LookupError):
    """The image for the current inputs is not in the local engine."""

    def __str__(self) -> str:
        return self.args[0]


def image_for(name: str, client=None) -> str:
    """The local tag to run `name` (a component, or an image of the catalog) from.

    Prefers the offline image built from the current inputs; falls back to the official
    reference when `halab images build --source official` pulled it. Raises ImageNotBuilt,
    naming the command that builds it, when neither is present.
    """
    from harness.images.buildenv import exists

    image = name if name in IMAGES else component(name).image
    tag = tag_for(image)
    if client is None:
        import docker

        client = docker.from_env(timeout=30)
    if exists(client, tag):
        return tag
    official = COMPONENTS[name].official if name in COMPONENTS else None
    if official and exists(client, official):
        return official
    raise ImageNotBuilt(f"image {tag} for {name} is not built: run `halab images build {name}`")


def ensure_image(name: str, client=None, progress=None, quick_only: bool = False) -> str:
    """Like image_for, but builds what is missing first (quiet unless `progress` is given).

    Meant for test fixtures in a checkout whose source changes: rebuilding the project
    image after a code change takes a second or two. With `quick_only`, only a missing
    project-source layer is built (never a Go build, debootstrap or a wheelhouse); anything
    longer raises ImageNotBuilt as image_for does.
    """
    from harness.images.build import build
    from harness.images.buildenv import exists
    from harness.images.catalog import images_for
    from harness.images.recipes import PythonProject

    try:
        return image_for(name, client)
    except ImageNotBuilt:
        if client is None:
            import docker

            client = docker.from_env(timeout=600)
        if quick_only:
            missing = [img for img in images_for([name]) if not exists(client, tag_for(img))]
            if not all(isinstance(IMAGES[img].recipe, PythonProject) for img in missing):
                raise
        build([name], source="offline", progress=progress or (lambda msg: None), client=client)
        return image_for(name, client)


__all__ = [
    "COMPONENTS",
    "IMAGES",
    "PYTHON_SERVICES",
    "ImageNotBuilt",
    "UnknownComponent",
    "component",
    "ensure_image",
    "image_for",
    "input_hash",
    "tag_for",
]
