"""The catalog covers DESIGN.md section 2 and stays consistent."""

from __future__ import annotations

import pytest

from harness.images import recipes as r
from harness.images.catalog import COMPONENTS, IMAGES, PYTHON_SERVICES, UnknownComponent, component, images_for

DESIGN_COMPONENTS = {
    "lb", "gateway", "cms", "rag", "policy_sync", "llm_stub", "opa", "etcd", "vault", "vectordb", "mongo", "toxiproxy",
    "prometheus",  # the lab's instrument (halab up --with-metrics), beside toxiproxy
}


def test_every_component_of_the_design_is_in_the_catalog():
    assert set(COMPONENTS) == DESIGN_COMPONENTS


@pytest.mark.parametrize("name", sorted(DESIGN_COMPONENTS))
def test_each_component_has_an_offline_image_and_a_health_signal(name):
    c = COMPONENTS[name]
    assert c.image in IMAGES and IMAGES[c.image].default
    assert c.health


def test_python_services_share_one_image():
    assert set(PYTHON_SERVICES) == {"gateway", "cms", "rag", "policy_sync", "llm_stub", "vectordb"}
    assert {COMPONENTS[s].image for s in PYTHON_SERVICES} == {"python"}


def test_official_references_where_the_design_names_one():
    assert COMPONENTS["etcd"].official.startswith("quay.io/coreos/etcd:v3.6")
    assert COMPONENTS["opa"].official.startswith("openpolicyagent/opa:")
    assert COMPONENTS["mongo"].official == "mongo:7"
    assert COMPONENTS["cms"].official is None  # the project's own code: always built


def test_prometheus_is_debians_package_on_the_base_image():
    recipe = IMAGES["prometheus"].recipe
    assert isinstance(recipe, r.DebFiles) and recipe.parent == "base" and recipe.package == "prometheus"
    assert "/usr/bin/prometheus" in recipe.files and recipe.version


def test_etcd_is_v3_6_from_go_modules_not_the_wheel():
    recipe = IMAGES["etcd"].recipe
    assert isinstance(recipe, r.ScratchBinary) and isinstance(recipe.source, r.GoWrapper)
    gomod = (r.FILES / recipe.source.files / "go.mod").read_text()
    assert "go.etcd.io/etcd/server/v3 v3.6." in gomod


def test_telemetry_is_off_in_every_recipe_that_phones_home():
    assert "--disable-telemetry" in IMAGES["opa"].recipe.cmd
    assert "--telemetry=disable" in IMAGES["mongo"].recipe.cmd


def test_scratch_images_have_a_tmp():
    for image in IMAGES.values():
        if isinstance(image.recipe, r.ScratchBinary):
            assert "/tmp" in image.recipe.dirs, image.name


def test_build_order_puts_parents_first_and_dedups():
    assert images_for(["cms", "rag", "lb"]) == ["base", "python-deps", "python"]
    assert images_for(["etcd"]) == ["etcd"]
    assert images_for(["python-embed"]) == ["base", "python-deps", "python-embed-deps", "python-embed"]


def test_embed_variant_is_optional():
    assert not IMAGES["python-embed"].default and not IMAGES["python-embed-deps"].default


def test_unknown_component_names_the_choices():
    with pytest.raises(UnknownComponent, match="unknown component 'nope': choose from lb, gateway"):
        images_for(["nope"])
    with pytest.raises(UnknownComponent, match="choose from"):
        component("postgres")
