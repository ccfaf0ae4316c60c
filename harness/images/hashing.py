"""The input hash that names every halab image: `halab/<image>:<hash12>`.

The hash covers the recipe (kind, versions, Dockerfile, shipped files, the project source
for the `python` image) and the parent image's hash, and nothing else: timestamps, paths
and the order files are found in never change it. So an unchanged image is never rebuilt,
and a changed input always gives a new tag.

Pure: it hashes what it is given. Which recipe an image has, and which its parent is, is the
catalog's (catalog.input_hash and catalog.tag_for walk the table).

    >>> digest({"b": b"2", "a": b"1"}) == digest({"a": b"1", "b": b"2"})
    True
    >>> final_tag("etcd", "3f2a9c1d0b7e")
    'halab/etcd:3f2a9c1d0b7e'
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.images.recipes import Recipe

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


def input_hash(recipe: Recipe, root: Path, parent_hash: str | None = None) -> str:
    """The hash of an image made by `recipe` from the checkout at `root`, on a parent image
    whose own input hash is `parent_hash` (None: no parent)."""
    inputs = dict(recipe.inputs(root))
    if parent_hash is not None:
        inputs["parent"] = parent_hash.encode()
    return digest(inputs)[:HASH_LEN]


def final_tag(image: str, hash_: str) -> str:
    return f"{REPOSITORY}/{image}:{hash_}"
