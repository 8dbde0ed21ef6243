"""autopipe-cascade's registration against diffusers' own tables, its refusals, the real Stable Cascade configs, and its
loading plans on made-up machines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import autopipe_cascade.plugin as cascade
from autopipe_cascade import loading
from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DeviceFacts,
    GiB,
    Identity,
    Task,
    UnsupportedModelError,
    UnsupportedTaskError,
    resolve,
)
from autopipe_core.registry import get_registry
from autopipe_core.specs import class_name

CPU = DeviceFacts("cpu")
AMPERE = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
TURING = DeviceFacts("cuda", 1, 14 * GiB, 16 * GiB, False)  # a T4: no bfloat16
REAL = Path(os.environ.get("AUTOPIPE_REAL_CONFIGS") or Path(__file__).resolve().parents[4] / "shared" / "real_configs")


# -- diffusers' tables ----------------------------------------------------------------------------------------------


def test_every_key_of_diffusers_tables_for_the_lineage_is_served_with_diffusers_class():
    """AUTO_TEXT2IMAGE_PIPELINES_MAPPING and the decoder table name these classes; the img2img and inpaint ones none."""
    from diffusers.pipelines import auto_pipeline as ap

    table = get_registry().table
    for family in cascade.FAMILIES:
        assert table[(family, frozenset())][Task.TEXT2IMG][0] == cascade.COMBINED[family]
        assert ap.AUTO_TEXT2IMAGE_PIPELINES_MAPPING[family].__name__ == class_name(cascade.COMBINED[family])
        decoder = ap._AUTO_TEXT2IMAGE_DECODER_PIPELINES_MAPPING[family]
        assert decoder.__name__ == class_name(cascade.DECODER_ONLY[family])
        assert table[(family, frozenset({cascade.DECODER}))][Task.TEXT2IMG][0] == cascade.DECODER_ONLY[family]
        # diffusers' own way from the decoder to the combined class: _get_connected_pipeline
        assert ap._get_connected_pipeline(decoder).__name__ == class_name(cascade.COMBINED[family])
        for mapping in (ap.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING, ap.AUTO_INPAINT_PIPELINES_MAPPING,
                        ap._AUTO_IMAGE2IMAGE_DECODER_PIPELINES_MAPPING, ap._AUTO_INPAINT_DECODER_PIPELINES_MAPPING):
            assert not any(key == family or key.startswith(f"{family}-") for key in mapping), mapping.keys()


def test_diffusers_has_no_other_pipeline_for_either_family():
    """Every diffusers pipeline class of the lineage is registered or recognised: nothing for img2img, inpaint, PAG, ControlNet."""
    import diffusers

    names = {n for n in dir(diffusers) if ("Cascade" in n or "Wuerstchen" in n) and n.endswith("Pipeline")}
    registered = {class_name(ref) for ref in (*cascade.COMBINED.values(), *cascade.DECODER_ONLY.values())}
    recognised = {n for family in cascade.FAMILIES for n in cascade.RECOGNISED[family]}
    assert names == registered | recognised


def test_the_prior_classes_and_components_are_diffusers_own():
    import diffusers
    from autopipe_core.switch import signature

    for family in cascade.FAMILIES:
        prior = getattr(diffusers, class_name(cascade.PRIOR_CLASS[family]))
        expected, optional, _ = signature(prior)
        assert expected == set(cascade.PRIOR_COMPONENTS[family])
        combined, _, _ = signature(getattr(diffusers, class_name(cascade.COMBINED[family])))
        assert {f"prior_{c}" for c in expected} <= combined


# -- refusals ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", cascade.FAMILIES)
def test_img2img_and_inpaint_are_refused_with_what_to_use_before_loading(family, tiny_checkpoint, monkeypatch):
    from diffusers import DiffusionPipeline, ModelMixin

    def no_loading(*args, **kwargs):
        raise AssertionError("weights were read before the task was refused")

    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", no_loading)
    monkeypatch.setattr(ModelMixin, "from_pretrained", no_loading)
    folder = tiny_checkpoint(family)
    with pytest.raises(UnsupportedTaskError) as err:
        AutoPipelineForImage2Image.from_pretrained(folder)
    assert cascade.NO_IMG2IMG[family] in str(err.value) and "AutoPipelineForText2Image" in str(err.value)
    with pytest.raises(UnsupportedTaskError) as err:
        AutoPipelineForInpainting.from_pretrained(folder)
    assert cascade.NO_INPAINT[family] in str(err.value) and "StableDiffusionXLInpaintPipeline" in str(err.value)


def test_stable_cascades_img2img_refusal_points_at_the_priors_image_conditioning():
    assert "pass images= to the text2img pipeline" in cascade.NO_IMG2IMG[cascade.CASCADE]
    import inspect

    from diffusers import StableCascadeCombinedPipeline, WuerstchenCombinedPipeline

    assert "images" in inspect.signature(StableCascadeCombinedPipeline.__call__).parameters
    assert "images" not in inspect.signature(WuerstchenCombinedPipeline.__call__).parameters  # so Würstchen's does not say it


@pytest.mark.parametrize("family", cascade.FAMILIES)
def test_pag_and_controlnet_are_refused_saying_diffusers_has_none(family, tiny_checkpoint):
    folder = tiny_checkpoint(family)
    with pytest.raises(UnsupportedTaskError, match="diffusers has no PAG pipeline for .*leave out enable_pag"):
        resolve(folder, "text2img", enable_pag=True)
    with pytest.raises(UnsupportedTaskError, match="diffusers has no ControlNet pipeline"):
        resolve(folder, "text2img", controlnet=object())


@pytest.mark.parametrize("family, prior_class", [(cascade.CASCADE, "StableCascadePriorPipeline"), (cascade.WUERSTCHEN, "WuerstchenPriorPipeline")])
def test_a_prior_folder_alone_is_refused_saying_to_load_the_decoder(family, prior_class, tiny_checkpoint):
    prior = tiny_checkpoint(family) / "prior"
    for task in Task:
        with pytest.raises(UnsupportedModelError) as err:
            resolve(prior, task)
        message = str(err.value)
        assert prior_class in message and "Load the decoder instead" in message and cascade.DECODER_REPO[family] in message
        assert "prior_prior=, prior_text_encoder=" in message


# -- the real configs ----------------------------------------------------------------------------------------------

needs_corpus = pytest.mark.skipif(not (REAL / "stable-cascade").is_dir(), reason=f"the real-config corpus is not at {REAL}")


@needs_corpus
def test_the_real_stable_cascade_decoder_resolves_as_diffusers_does():
    """stabilityai/stable-cascade (StableCascadeDecoderPipeline): text2img is the combined class, as diffusers'
    AutoPipelineForText2Image picks; diffusers has no img2img or inpaint class for "cascade", and neither does autopipe."""
    folder = REAL / "stable-cascade"
    assert resolve(folder, "text2img").pipeline_class == "StableCascadeCombinedPipeline"
    assert resolve(folder, "text2img").family == cascade.CASCADE
    with pytest.raises(UnsupportedTaskError, match="cascade has no img2img pipeline: diffusers has no image-to-image pipeline for Stable Cascade"):
        resolve(folder, "img2img")
    with pytest.raises(UnsupportedTaskError, match="cascade has no inpaint pipeline: diffusers has no inpainting pipeline for Stable Cascade"):
        resolve(folder, "inpaint")


@needs_corpus
def test_the_real_stable_cascade_prior_is_refused_saying_to_load_the_decoder():
    for task in Task:
        with pytest.raises(UnsupportedModelError, match="Stable Cascade prior .*Load the decoder instead .*stabilityai/stable-cascade style"):
            resolve(REAL / "stable-cascade-prior", task)


@needs_corpus
def test_the_real_decoder_names_its_vqgan_as_diffusers_no_longer_can_load_it():
    """stabilityai/stable-cascade's vqgan is ["wuerstchen", "PaellaVQModel"]: what components.stranded finds and this
    plugin loads itself; the core's guard, which refuses a library diffusers would look up in sys.modules, lets this
    entry pass for the family (and no other), so loading goes on to the checks that follow the guard."""
    from autopipe_cascade.components import stranded
    from autopipe_core import InvalidModelError, guard, sources

    identity = sources.identify(REAL / "stable-cascade", lambda names: ())
    assert identity.components["vqgan"] == ("wuerstchen", "PaellaVQModel")
    assert stranded(identity.components) == {"vqgan": "PaellaVQModel"}
    assert stranded(sources.identify(REAL / "stable-cascade-prior", lambda names: ()).components) == {}
    assert guard.foreign(identity) == {"vqgan": "['wuerstchen', 'PaellaVQModel'] names the library 'wuerstchen'"}
    assert guard.foreign(identity, own=cascade.OLD_ENTRIES) == {}
    with pytest.raises(InvalidModelError, match="lists tokenizer but has no folder"):  # the corpus keeps some JSON only
        AutoPipelineForText2Image.from_pretrained(REAL / "stable-cascade")


# -- loading plans -------------------------------------------------------------------------------------------------

BF16_FILES = ("model_index.json", "decoder/diffusion_pytorch_model.safetensors", "decoder/diffusion_pytorch_model.bf16.safetensors",
              "text_encoder/model.safetensors", "text_encoder/model.bf16.safetensors", "vqgan/diffusion_pytorch_model.safetensors")
FP16_FILES = ("model_index.json", "decoder/diffusion_pytorch_model.safetensors", "decoder/diffusion_pytorch_model.fp16.safetensors")


def _identity(family, files):
    return Identity("folder", "x", class_name(cascade.DECODER_ONLY[family]), files=files)


def test_stable_cascade_loads_in_bfloat16_where_the_device_has_it_from_its_bf16_files():
    p = loading.plan(cascade.CASCADE, _identity(cascade.CASCADE, BF16_FILES), AMPERE)
    assert (p.dtype, p.variant, p.placement) == ("bfloat16", "bf16", "device")
    assert p.reason == "bfloat16 from its bf16 weight files"


def test_stable_cascade_loads_in_float32_on_an_accelerator_without_bfloat16_never_float16():
    p = loading.plan(cascade.CASCADE, _identity(cascade.CASCADE, BF16_FILES), TURING)
    assert (p.dtype, p.variant, p.device) == ("float32", None, "cuda")
    assert p.reason.startswith("float32 (cuda has no bfloat16) from its full-precision files: ") and loading.NO_BFLOAT16 in p.reason
    bf16_only = tuple(f for f in BF16_FILES if ".bf16." in f or f.endswith(".json"))
    assert loading.plan(cascade.CASCADE, _identity(cascade.CASCADE, bf16_only), TURING).variant == "bf16"  # what it has, upcast


def test_wuerstchen_loads_in_float16_on_an_accelerator_and_both_in_float32_on_the_cpu():
    p = loading.plan(cascade.WUERSTCHEN, _identity(cascade.WUERSTCHEN, FP16_FILES), AMPERE)
    assert (p.dtype, p.variant) == ("float16", "fp16")
    for family in cascade.FAMILIES:
        p = loading.plan(family, _identity(family, BF16_FILES), CPU)
        assert (p.dtype, p.variant, p.device) == ("float32", None, "cpu")


def test_the_allowance_is_stated_at_1024_as_an_estimate_and_scales_with_pixels_and_dtype():
    from autopipe_core import Footprint, LoadPlan

    bf16 = LoadPlan("bfloat16", None, "device", "cuda", "r")
    identity = _identity(cascade.CASCADE, None)
    native = loading.ALLOWANCE.activation(identity, bf16)
    assert (native.width, native.height, native.nbytes) == (1024, 1024, 2 * GiB)
    assert "an estimate from the shapes, not measured" in native.reason
    assert loading.ALLOWANCE.activation(identity, bf16, 512, 512).nbytes == GiB // 2 + 3 * GiB // 8
    f32 = LoadPlan("float32", None, "device", "cuda", "r")
    assert loading.ALLOWANCE.activation(identity, f32).nbytes == GiB // 2 + 3 * GiB
    fp = loading.footprint(cascade.CASCADE, Identity("folder", "x", "StableCascadeCombinedPipeline"), bf16, Footprint(()), 768, 512)
    assert (fp.activation.width, fp.activation.height) == (768, 512)


def test_a_combined_pipeline_is_not_balanced_over_several_gpus(tiny_cascade):
    from autopipe_core import ComponentBytes, Footprint, LoadPlan

    identity = Identity("folder", str(tiny_cascade), "StableCascadeDecoderPipeline")
    four = DeviceFacts("cuda", 4, 10 * GiB, 12 * GiB, True)
    fp = Footprint((ComponentBytes("decoder", 8 * GiB, 4 * GiB, "bfloat16", "headers"), ComponentBytes("prior_prior", 8 * GiB, 4 * GiB, "bfloat16", "headers")))
    moved = loading.placement(cascade.CASCADE, identity, four, fp, LoadPlan("bfloat16", None, "balanced", "cuda", "bfloat16; balanced"))
    assert moved is not None and moved.placement != "balanced" and "connected (combined) pipelines" in moved.reason
