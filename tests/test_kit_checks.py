"""The kit's checks of a plugin's registration, refusals and single files, on the real plugins and diffusers: each
passes on the truth and fails, saying what differs, on a wrong expectation."""

import json
import types

import pytest

from autopipe_core.registry import build
from autopipe_core.tasks import Task
from autopipe_core.testing import (
    check_named_pipelines_exist,
    check_no_diffusers_single_file,
    check_no_pag_or_controlnet,
    check_refused,
    check_registered_alone,
    isolate,
)

#: fal/AuraFlow-v0.3's model_index.json: enough to resolve, no weights.
AURAFLOW_INDEX = {
    "_class_name": "AuraFlowPipeline",
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "LlamaTokenizerFast"],
    "transformer": ["diffusers", "AuraFlowTransformer2DModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


@pytest.fixture
def auraflow_folder(tmp_path, monkeypatch):
    """An AuraFlow checkpoint's JSON, resolved among the core and autopipe-auraflow alone."""
    isolate(monkeypatch, "autopipe-auraflow", tmp_path / "cache")
    folder = tmp_path / "auraflow"
    (folder / "vae").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps(AURAFLOW_INDEX))
    (folder / "vae" / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL", "force_upcast": True}))
    return folder


# check_registered_alone


def test_a_plugin_registered_alone_passes_and_gives_the_registry():
    registry = build(frozenset({"autopipe-auraflow"}))
    assert check_registered_alone("autopipe-auraflow", {"auraflow"}, registry=registry) is registry
    assert check_registered_alone("autopipe_auraflow", ["auraflow"], ["auraflow"], registry=registry) is registry  # names normalised


def test_another_plugin_loaded_beside_it_fails():
    registry = build(frozenset({"autopipe-auraflow", "autopipe-krea2"}))
    with pytest.raises(AssertionError, match=r"the plugins loaded are \['autopipe-auraflow', 'autopipe-core', 'autopipe-krea2'\]"):
        check_registered_alone("autopipe-auraflow", {"auraflow"}, registry=registry)


def test_other_families_or_rows_than_expected_fail():
    registry = build(frozenset({"autopipe-auraflow"}))
    with pytest.raises(AssertionError, match=r"registers the families \['auraflow'\], the test expects \['auraflow', 'flux'\]"):
        check_registered_alone("autopipe-auraflow", {"auraflow", "flux"}, registry=registry)
    with pytest.raises(AssertionError, match=r"lacking: \['auraflow\+pag'\]"):
        check_registered_alone("autopipe-auraflow", {"auraflow"}, ["auraflow", ("auraflow", {"pag"})], registry=registry)
    with pytest.raises(TypeError, match="not the string 'pag'"):
        check_registered_alone("autopipe-auraflow", {"auraflow"}, [("auraflow", "pag")], registry=registry)


# check_refused and check_no_pag_or_controlnet


def test_a_refusal_with_the_words_passes_and_is_returned(auraflow_folder):
    refusal = check_refused(auraflow_folder, Task.IMG2IMG, "StableDiffusion3Img2ImgPipeline, autopipe-sd3", "use AutoPipelineForText2Image")
    assert "img2img" in str(refusal)


def test_a_refusal_without_the_words_or_no_refusal_fails(auraflow_folder):
    with pytest.raises(AssertionError, match=r"does not say \['KandinskyV22InpaintPipeline'\]"):
        check_refused(auraflow_folder, Task.INPAINT, "use AutoPipelineForText2Image", "KandinskyV22InpaintPipeline")
    with pytest.raises(AssertionError, match="resolves to AuraFlowPipeline, where a refusal was expected"):
        check_refused(auraflow_folder, Task.TEXT2IMG)


def test_pag_and_controlnet_refusals_name_the_family(auraflow_folder):
    pag, controlnet = check_no_pag_or_controlnet(auraflow_folder, "AuraFlow")
    assert "enable_pag" in str(pag) and "ControlNet" in str(controlnet)
    with pytest.raises(AssertionError, match="does not say 'no PAG pipeline for Flux ... leave out enable_pag'"):
        check_no_pag_or_controlnet(auraflow_folder, "Flux")


# check_named_pipelines_exist


def test_the_pipelines_a_reason_names_must_exist_in_diffusers():
    assert check_named_pipelines_exist("use img2img elsewhere (FluxImg2ImgPipeline, autopipe-flux)", "(FluxFillPipeline, x)") == [
        "FluxImg2ImgPipeline", "FluxFillPipeline",
    ]
    with pytest.raises(AssertionError, match=r"names \['FluxImg3ImgPipeline'\], which diffusers"):
        check_named_pipelines_exist("(FluxImg3ImgPipeline, autopipe-flux)")
    with pytest.raises(AssertionError, match="names no pipeline class to use"):
        check_named_pipelines_exist("diffusers has no such pipeline")
    with pytest.raises(ValueError, match="needs the reasons"):
        check_named_pipelines_exist()


# check_no_diffusers_single_file


def test_a_family_diffusers_reads_no_single_file_of_passes():
    import autopipe_glm_image

    check_no_diffusers_single_file("glm", ["GlmImagePipeline"], ["GlmImageTransformer2DModel"], autopipe_glm_image)


@pytest.mark.parametrize("word, classes, models, says", [
    ("flux", (), (), "single-file keys .* name 'flux'"),
    ("glm", ["StableDiffusionPipeline"], (), r"\['StableDiffusionPipeline'\] have from_single_file"),
    ("glm", (), ["FluxTransformer2DModel"], r"\['FluxTransformer2DModel'\] are in diffusers' SINGLE_FILE_LOADABLE_CLASSES"),
])
def test_a_family_diffusers_reads_single_files_of_fails(word, classes, models, says):
    with pytest.raises(AssertionError, match=says):
        check_no_diffusers_single_file(word, classes, models)


def test_a_plugin_that_detects_files_fails_and_a_word_is_needed():
    import autopipe_sd.plugin

    assert hasattr(autopipe_sd.plugin, "autopipe_detect")
    with pytest.raises(AssertionError, match="autopipe_sd.plugin implements autopipe_detect"):
        check_no_diffusers_single_file("glm", plugin=autopipe_sd.plugin)
    check_no_diffusers_single_file("glm", plugin=types.ModuleType("a_plugin_without_detection"))
    with pytest.raises(ValueError, match="needs the word"):
        check_no_diffusers_single_file("")
