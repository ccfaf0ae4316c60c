"""The input hash that names every halab image: `halab/<image>:<hash12>`.

The hash covers the recipe (kind, versions, Dockerfile, shipped files, the project source
for the `python` image) and the parent image's hash, and nothing else: timestamps, paths
and the order files are found in never change it. So an unchanged image is never rebuilt,
and a changed input always gives a new tag.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.images.catalog import IMAGES

HASH_LEN = 12
REPOSITORY = "halab"


def digest(inputs: dict[str, bytes]) -> str:
    """sha256 over (name, sha256(content)) pairs in name order."""
    h = hashlib.sha256()
    for name in sorted(inputs):
        h.update(name.encode() + b"\0" + hashlib.sha256(inputs[name]).digest() + b"\n")
    return h.hexdigest()


def project_root() -> Path:
    """The checkout the images are built from: the directory holding pyproject.toml."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    raise FileNotFoundError("no pyproject.toml above harness/images: run from a halab checkout")


def input_hash(image: str, root: Path | None = None) -> str:
    root = root or project_root()
    return _input_hash(image, root)


def _input_hash(image: str, root: Path) -> str:
    recipe = IMAGES[image].recipe
    inputs = dict(recipe.inputs(root))
    if recipe.parent:
        inputs["parent"] = _input_hash(recipe.parent, root).encode()
    return digest(inputs)[:HASH_LEN]


def tag_for(image: str, root: Path | None = None) -> str:
    return f"{REPOSITORY}/{image}:{input_hash(image, root)}"
