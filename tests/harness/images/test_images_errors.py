"""Bad input and failure: one clear line, a non-zero exit, nothing half-built tagged."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from typing import ClassVar

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.images import build as b
from harness.images import buildenv, catalog
from harness.images.buildenv import BuildEnv, BuildError
from harness.images.recipes import Recipe


def test_unknown_component_is_one_line_and_non_zero():
    result = CliRunner().invoke(main, ["images", "build", "postgres"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        result.output.strip().splitlines()[0]
    ] and "unknown component 'postgres'" in result.output


def test_unknown_source_is_refused():
    result = CliRunner().invoke(main, ["images", "build", "--source", "nowhere"])
    assert result.exit_code != 0 and "nowhere" in result.output


def test_no_go_toolchain_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(buildenv.shutil, "which", lambda name: None)
    monkeypatch.setattr(buildenv, "GO_CANDIDATES", (str(tmp_path / "nope"),))
    env = BuildEnv(client=None, root=tmp_path, image="opa", hash="x")
    with pytest.raises(BuildError, match="no Go toolchain: install Go"):
        env.go()


def test_failed_step_names_the_log(tmp_path):
    env = BuildEnv(client=None, root=tmp_path, image="t", hash="x", progress=lambda m: None, cache_dir=tmp_path)
    with pytest.raises(BuildError, match=r"false-step failed \(exit 1\).*full log: .*t-false-step.log"):
        env.step(["false"], "false-step")


@dataclass(frozen=True)
class TinyScratch(Recipe):
    """Builds a one-file scratch image, then optionally fails after the image exists."""

    kind: ClassVar[str] = "test-tiny"
    fail_after_build: bool = False
    nonce: str = ""

    def inputs(self, root):
        return {"recipe": self._describe()}

    def build(self, env, tag, parent_tag):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in (("Dockerfile", b"FROM scratch\nCOPY f /f\n"), ("f", self.nonce.encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        buf.seek(0)
        env.docker_build(buf, tag, custom_context=True, network_mode="none")
        if self.fail_after_build:
            raise BuildError("simulated failure after the image was built")


def _tags(client, repo):
    return [t for img in client.images.list(name=repo) for t in img.tags]


@pytest.mark.docker
@pytest.mark.parametrize("fail", [True, False])
def test_only_a_finished_build_is_tagged(docker_client, monkeypatch, tmp_path, fail, run_id):
    name = f"test-tiny-{run_id}".lower()
    monkeypatch.setitem(
        catalog.IMAGES, name, catalog.Image(name, TinyScratch(fail_after_build=fail, nonce=run_id), "test", False)
    )
    monkeypatch.setattr(buildenv, "CACHE_DIR", tmp_path)
    repo = f"halab/{name}"
    try:
        if fail:
            with pytest.raises(BuildError, match="simulated failure"):
                b.build_image(docker_client, name, tmp_path, progress=lambda m: None)
            assert _tags(docker_client, repo) == []
        else:
            result = b.build_image(docker_client, name, tmp_path, progress=lambda m: None)
            assert result.action == "built"
            assert _tags(docker_client, repo) == [result.tag]  # no building-* tag left
            again = b.build_image(docker_client, name, tmp_path, progress=lambda m: None)
            assert again.action == "cached" and again.tag == result.tag
    finally:
        for tag in _tags(docker_client, repo):
            docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_ensure_image_quick_only_refuses_a_long_build(docker_client, monkeypatch, tmp_path, run_id):
    from harness.images import ImageNotBuilt, ensure_image

    name = f"test-tiny-q-{run_id}".lower()
    monkeypatch.setitem(catalog.IMAGES, name, catalog.Image(name, TinyScratch(nonce=run_id + "q"), "test", False))
    with pytest.raises(ImageNotBuilt):
        ensure_image(name, docker_client, quick_only=True)  # not a project layer: not built here
    assert _tags(docker_client, f"halab/{name}") == []


def test_wheelhouse_needs_the_base_images_python(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["click"]\n')
    env = BuildEnv(client=None, root=tmp_path, image="python-deps", hash="x", progress=lambda m: None,
                     cache_dir=tmp_path, python_version="3.12.1")
    with pytest.raises(BuildError, match="Python 3.12.1, but the base image runs Python 3.11"):
        catalog.IMAGES["python-deps"].recipe.build(env, "halab/python-deps:building-x", "halab/base:x")
