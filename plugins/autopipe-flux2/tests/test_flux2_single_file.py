"""FLUX.2 single files: detection from full-size headers (true names and shapes, no data) in BFL's and ComfyUI's layouts,
FLUX.1 files left alone, what loading asks for, how they are planned, and the tiny file loaded end to end every way.

The headers are written from the configs autopipe-flux2 ships, built on the meta device and renamed to Black Forest
Labs' layout by autopipe_flux2.layout, which the first test checks against diffusers' own converter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image, DeviceFacts, GiB, Task
from autopipe_core import UnsupportedModelError, UnsupportedTaskError, resolve
from autopipe_core.headers import write_header
from autopipe_core.registry import build as build_registry
from autopipe_core.single_file import detect, read
from autopipe_core.testing.images import sample_image, sample_mask
from autopipe_flux2 import FLUX2, KLEIN
from autopipe_flux2.layout import COMFY_PREFIX, bfl_names, single_file_layout, transformer_file
from autopipe_flux2.plugin import NO_DEV_INPAINT
from autopipe_flux2.single_file import config_folder

FULL = {"flux2-dev": "Flux2Pipeline", "flux2-klein-4b": "Flux2KleinPipeline", "flux2-klein-9b": "Flux2KleinPipeline"}
TRANSFORMER_PARAMETERS = {"flux2-dev": 32_223_281_152, "flux2-klein-4b": 3_875_544_576, "flux2-klein-9b": 9_078_581_248}
#: The shipped plugins that read single files beside this one: a FLUX.2 file must be ranked to autopipe-flux2 among them.
READERS = ("autopipe-flux2", "autopipe-flux", "autopipe-sd", "autopipe-sdxl", "autopipe-controlnet")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """variant -> its transformer file in BFL's layout; "<variant>+comfy" the same behind ComfyUI's prefix."""
    root = tmp_path_factory.mktemp("flux2-files")
    out = {}
    for variant in FULL:
        layout = single_file_layout(config_folder(variant))
        out[variant] = write_header(root / f"{variant}.safetensors", {k: ("BF16", s) for k, s in layout.items()})
        comfy = {COMFY_PREFIX + k: ("BF16", s) for k, s in layout.items()}
        out[variant + "+comfy"] = write_header(root / f"{variant}-comfy.safetensors", comfy)
    return out


@pytest.mark.parametrize("variant", sorted(FULL))
def test_diffusers_converter_gives_back_every_tensor_from_the_bfl_names(variant):
    import torch
    from diffusers import Flux2Transformer2DModel
    from diffusers.loaders.single_file_utils import convert_flux2_transformer_checkpoint_to_diffusers

    from autopipe_flux2.layout import meta_shapes

    with torch.device("meta"):
        state = Flux2Transformer2DModel.from_config(Flux2Transformer2DModel.load_config(config_folder(variant) / "transformer")).state_dict()
    back = convert_flux2_transformer_checkpoint_to_diffusers(bfl_names(state))
    assert {k: tuple(v.shape) for k, v in back.items()} == meta_shapes(config_folder(variant), "transformer")


def test_diffusers_calls_every_flux2_file_dev_which_is_why_the_plugin_reads_the_shapes(files):
    """infer_diffusers_model_type says "flux-2-dev" for a [klein] file too, and would fetch FLUX.2-dev's config for it."""
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    for variant in FULL:
        header = read(files[variant])
        assert infer_diffusers_model_type(dict.fromkeys(header.tensors)) == "flux-2-dev"


@pytest.mark.parametrize("name", [*sorted(FULL), *(v + "+comfy" for v in sorted(FULL))])
def test_each_full_size_file_is_detected_as_its_variant_and_ranked_first(files, name):
    variant = name.partition("+")[0]
    report = detect(read(files[name]), build_registry(allowed=frozenset(READERS)))
    best = report.best
    assert (best.plugin, best.variant, best.pipeline_class, best.confidence) == ("autopipe-flux2", variant, f"diffusers:{FULL[variant]}", 0.95), report.summary()
    assert Path(best.config) == config_folder(variant)
    assert best.prefixes["transformer"] == (COMFY_PREFIX if name.endswith("+comfy") else "")
    assert "the file holds the transformer only" in best.reason and f"black-forest-labs/{'FLUX.2-dev' if variant == 'flux2-dev' else 'FLUX.2-klein-' + variant[-2:].upper()}" in best.reason
    assert ("have the same tensors: taken as the distilled model" in best.reason) == (variant != "flux2-dev")
    assert all(d.confidence < best.confidence for d in report.ranked[1:])  # autopipe-flux may see FLUX.1-like names: never above


def test_flux1_files_are_not_claimed(tmp_path):
    """FLUX.1's files share double_blocks and img_attn.norm.key_norm.scale with FLUX.2's, but modulate each block."""
    from autopipe_flux2.single_file import detect as flux2_detect

    flux1 = {
        "img_in.weight": (3072, 64), "txt_in.weight": (3072, 4096), "double_blocks.0.img_attn.norm.key_norm.scale": (128,),
        "double_blocks.0.img_mod.lin.weight": (18432, 3072), "single_blocks.0.modulation.lin.weight": (9216, 3072),
        "guidance_in.in_layer.weight": (3072, 256),
    }
    assert flux2_detect(read(write_header(tmp_path / "flux1.safetensors", {k: ("BF16", s) for k, s in flux1.items()}))) == []
    nothing = write_header(tmp_path / "x.safetensors", {"single_stream_modulation.lin.weight": ("BF16", (18432, 6144))})
    assert flux2_detect(read(nothing)) == []  # the key alone, without img_in and txt_in


def test_another_geometry_is_claimed_with_a_low_confidence_and_says_to_pass_config(tmp_path):
    import re

    # A [klein] 9B cut to 16 single blocks: the family by its (absent) guidance embedding, no shipped config.
    layout = {k: s for k, s in single_file_layout(config_folder("flux2-klein-9b")).items() if not re.match(r"single_blocks\.(1[6-9]|2\d)\.", k)}
    best = detect(read(write_header(tmp_path / "cut.safetensors", {k: ("BF16", s) for k, s in layout.items()}))).best
    assert (best.family, best.confidence) == (KLEIN, 0.5)
    assert "8 double and 16 single blocks" in best.reason and "no shipped config has this geometry" in best.reason and "pass config=" in best.reason


@pytest.mark.parametrize("task", list(Task))
def test_files_resolve_for_every_task_as_their_folders_would(files, task):
    for variant, cls in FULL.items():
        if variant == "flux2-dev" and task is Task.INPAINT:
            with pytest.raises(UnsupportedTaskError) as refusal:
                resolve(files[variant], task)
            assert NO_DEV_INPAINT in str(refusal.value)
            continue
        expected = "Flux2KleinInpaintPipeline" if task is Task.INPAINT else cls
        assert resolve(files[variant], task).pipeline_class == expected


def test_a_transformer_file_is_planned_from_its_header_and_the_rest_is_unknown(files):
    from autopipe_core.planning import plan

    for variant, parameters in TRANSFORMER_PARAMETERS.items():
        placed = plan(resolve(files[variant + "+comfy"], "text2img"), DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True))
        transformer = placed.footprint.component("transformer")
        assert (transformer.parameters, transformer.nbytes, transformer.dtype) == (parameters, 2 * parameters, "bfloat16")
        assert {c.name for c in placed.footprint.unknown} == {"text_encoder", "vae"}
        assert placed.plan.placement == "device" and "not known" in placed.plan.reason


def test_loading_a_full_size_file_without_its_base_refuses_before_reading_it(files):
    """The base repository is not in this machine's Hugging Face cache: the refusal says what to pass, at once (the
    header-only file's 64 GB of holes are never read)."""
    with pytest.raises(UnsupportedModelError) as refusal:
        AutoPipelineForText2Image.from_single_file(str(files["flux2-dev"]))
    said = str(refusal.value)
    assert "black-forest-labs/FLUX.2-dev" in said and "not in the local Hugging Face cache" in said
    for what in ("text_encoder= (Mistral3ForConditionalGeneration", "tokenizer= (PixtralProcessor)", "vae= (AutoencoderKLFlux2)", "config="):
        assert what in said
    with pytest.raises(UnsupportedModelError, match=r"Qwen3ForCausalLM, Qwen3-4B or -8B"):
        AutoPipelineForInpainting.from_single_file(str(files["flux2-klein-9b+comfy"]))


# The tiny file, end to end


@pytest.fixture(scope="module")
def tiny_files(tiny_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-files")
    return {
        family: {prefix: transformer_file(tiny_checkpoint(family), root / f"{family}{len(prefix)}.safetensors", prefix) for prefix in ("", COMFY_PREFIX)}
        for family in (FLUX2, KLEIN)
    }


def test_the_tiny_layouts_are_told_from_the_full_size_ones(tiny_files):
    for family, variant in ((FLUX2, "flux2-tiny"), (KLEIN, "flux2-klein-tiny")):
        best = detect(read(tiny_files[family][COMFY_PREFIX])).best
        assert (best.family, best.variant, best.confidence) == (family, variant, 0.9) and "the family's tiny checkpoint" in best.reason


@pytest.mark.parametrize("family", [FLUX2, KLEIN])
def test_a_comfyui_file_loads_with_its_prefix_taken_off_and_runs(tiny_files, tiny_checkpoint, family):
    import torch

    task = Task.IMG2IMG
    pipeline = AutoPipelineForImage2Image.from_single_file(str(tiny_files[family][COMFY_PREFIX]))
    folder = AutoPipelineForImage2Image.from_pretrained(tiny_checkpoint(family))
    assert type(pipeline).__name__ == type(folder).__name__
    for (name, ours), theirs in zip(pipeline.transformer.state_dict().items(), folder.transformer.state_dict().values()):
        assert torch.equal(ours, theirs), name  # the file's tensors, converted back by diffusers, are the checkpoint's
    pipeline.set_progress_bar_config(disable=True)
    image = pipeline(prompt="a red fox", image=sample_image(64), num_inference_steps=2, height=64, width=64).images[0]
    assert image.size == (64, 64) and task is Task.IMG2IMG


def test_every_component_passed_loads_from_the_shipped_config_alone(tiny_files, tiny_checkpoint):
    from diffusers import AutoencoderKLFlux2
    from transformers import AutoTokenizer, Qwen3ForCausalLM

    folder = tiny_checkpoint(KLEIN)
    parts = dict(
        text_encoder=Qwen3ForCausalLM.from_pretrained(folder / "text_encoder"), tokenizer=AutoTokenizer.from_pretrained(folder / "tokenizer"),
        vae=AutoencoderKLFlux2.from_pretrained(folder / "vae"),
    )
    pipeline = AutoPipelineForInpainting.from_single_file(str(tiny_files[KLEIN][""]), **parts)
    assert type(pipeline).__name__ == "Flux2KleinInpaintPipeline" and pipeline.text_encoder is parts["text_encoder"]
    assert pipeline.config.is_distilled is True  # the shipped model_index.json's
    pipeline.set_progress_bar_config(disable=True)
    image = pipeline(prompt="a red fox", image=sample_image(64), mask_image=sample_mask(64), strength=0.75, num_inference_steps=2, height=64, width=64).images[0]
    assert image.size == (64, 64)


def test_config_names_the_base_and_a_base_klein_file_is_told_so(tiny_files, tiny_checkpoint):
    """config= a diffusers folder supplies the components and the transformer's config; is_distilled= says a base model."""
    pipeline = AutoPipelineForText2Image.from_single_file(str(tiny_files[KLEIN][""]), config=str(tiny_checkpoint(KLEIN, "base")))
    assert pipeline.config.is_distilled is False
    told = AutoPipelineForText2Image.from_single_file(str(tiny_files[KLEIN][""]), is_distilled=False)
    assert told.config.is_distilled is False


def test_the_caller_s_components_win_and_the_file_is_not_read(files, tiny_checkpoint):
    """Every component passed, the transformer included: the full-size file (18 GB of holes) is never read. ([klein]'s:
    the shipped [dev] folder names PixtralProcessor, which diffusers' check of a passed tokenizer cannot import here.)"""
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel
    from transformers import AutoTokenizer, Qwen3ForCausalLM

    folder = tiny_checkpoint(KLEIN)
    parts = dict(
        transformer=Flux2Transformer2DModel.from_pretrained(folder / "transformer"), vae=AutoencoderKLFlux2.from_pretrained(folder / "vae"),
        text_encoder=Qwen3ForCausalLM.from_pretrained(folder / "text_encoder"), tokenizer=AutoTokenizer.from_pretrained(folder / "tokenizer"),
    )
    pipeline = AutoPipelineForText2Image.from_single_file(str(files["flux2-klein-9b"]), **parts)
    assert type(pipeline).__name__ == "Flux2KleinPipeline" and all(pipeline.components[k] is v for k, v in parts.items())
