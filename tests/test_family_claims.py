"""One class name, several families: a family claims another's class name (FamilySpec.also_named) for the checkpoints
its requirements fit, as the original Kolors repository names StableDiffusionXLPipeline."""

import pytest
from layouts import install_plugins, write_model_index

from autopipe_core import FamilySpec, Requirement, UnsupportedModelError, resolve

KOALA = '''
from autopipe_core import FamilySpec, PipelineRow, Requirement, Task, hookimpl

@hookimpl
def autopipe_families():
    return [FamilySpec(
        "koala",
        requires=(Requirement("unet", "encoder_hid_dim", {4096}, "its UNet does not take 4096-wide text embeddings"),),
        also_named=frozenset({"StableDiffusionXLPipeline"}),
    )]

@hookimpl
def autopipe_pipelines():
    return [PipelineRow("koala", {Task.TEXT2IMG: "fractions:Fraction", Task.IMG2IMG: "decimal:Decimal"})]
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return install_plugins(tmp_path_factory.mktemp("projects"), tmp_path_factory.mktemp("site"), {"autopipe-koala": ("autopipe_koala", KOALA, "autopipe_koala")})


@pytest.fixture
def both(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-koala,autopipe-sdxl")


def _sdxl_named(folder, **unet):
    return write_model_index(folder, "StableDiffusionXLPipeline", unet={"in_channels": 4, "encoder_hid_dim": None, **unet}, vae={"_class": "AutoencoderKL"})


def test_the_class_owner_keeps_its_checkpoints_and_the_other_family_takes_what_its_requirements_fit(both, tmp_path):
    assert resolve(_sdxl_named(tmp_path / "sdxl"), "t2i").pipeline_class == "StableDiffusionXLPipeline"
    koala = resolve(_sdxl_named(tmp_path / "koala", encoder_hid_dim=4096), "t2i")
    assert (koala.family, koala.pipeline_class) == ("koala", "Fraction")
    assert resolve(tmp_path / "koala", "img2img").pipeline_class == "Decimal"


def test_a_checkpoint_neither_family_fits_is_refused_with_what_the_owner_says(both, tmp_path):
    with pytest.raises(UnsupportedModelError, match="it is not stable-diffusion-xl: its UNet projects 2048-wide"):
        resolve(_sdxl_named(tmp_path / "other", encoder_hid_dim=2048), "t2i")


def test_also_named_needs_requirements():
    with pytest.raises(ValueError, match="also_named needs requires"):
        FamilySpec("greedy", also_named=frozenset({"StableDiffusionPipeline"}))
    assert FamilySpec("fine", requires=(Requirement("unet", "x", {1}, "no"),), also_named={"A"}).also_named == frozenset({"A"})


@pytest.fixture
def koala_alone(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-koala")


def test_a_borrowed_name_is_not_taken_on_no_evidence(koala_alone, tmp_path):
    # A bare SDXL model_index (no UNet config to read) proves nothing about koala: the owner's plugin is asked for.
    # Installed but left out here (AUTOPIPE_PLUGINS names koala alone); where it is not installed, the pip line.
    with pytest.raises(UnsupportedModelError, match=r"autopipe-sdxl is installed but AUTOPIPE_PLUGINS='autopipe-koala' leaves it out|pip install ./plugins/autopipe-sdxl"):
        resolve(write_model_index(tmp_path / "bare", "StableDiffusionXLPipeline"), "t2i")
    assert resolve(_sdxl_named(tmp_path / "koala", encoder_hid_dim=4096), "t2i").family == "koala"
    with pytest.raises(UnsupportedModelError, match="it is not koala: its UNet does not take 4096-wide"):
        resolve(_sdxl_named(tmp_path / "sdxl"), "t2i")
