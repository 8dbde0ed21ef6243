"""autopipe-prx against diffusers' own tables and sources: the rows, the refusals, no single files, the plans, the repair and the tiny checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import autopipe_prx as prx
from autopipe_core import AutoPipelineForText2Image, DeviceFacts, GiB, Identity, Task, resolve
from autopipe_core.planning import plan as plan_placement
from autopipe_core.registry import get_registry
from autopipe_core import testing as kit
from autopipe_prx import tiny
from autopipe_prx.loading import ALLOWANCES, NO_FLOAT16, plan

BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
BF16_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.bf16.safetensors", "text_encoder/model.bf16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors")
PLAIN_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors")
#: A PRX model_index.json as PRXPipeline.save_pretrained writes one with FLUX.1's VAE (the tokenizer by its Fast name).
INDEX = {
    "_class_name": "PRXPipeline",
    "default_sample_size": 512,
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
    "text_encoder": ["transformers", "T5GemmaEncoder"],
    "tokenizer": ["transformers", "GemmaTokenizerFast"],
    "transformer": ["diffusers", "PRXTransformer2DModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}
CALL = dict(num_inference_steps=2, height=64, width=64, use_resolution_binning=False)


# Registration, against diffusers' own tables and classes


def test_the_families_and_their_rows_are_registered_alone():
    kit.check_registered_alone("autopipe-prx", {prx.PRX, prx.PIXEL})


def test_every_row_of_diffusers_tables_for_prx_is_served_with_diffusers_class():
    served = kit.check_rows_serve_diffusers({"prx": prx.PRX}, naming="prx")
    assert served == {"prx": {Task.TEXT2IMG: "PRXPipeline"}}  # diffusers 0.42.1 has no other key for PRX
    table, missing = get_registry().table[(prx.PIXEL, frozenset())], get_registry().missing[(prx.PIXEL, frozenset())]
    for task in (Task.IMG2IMG, Task.INPAINT):  # PRX Pixel, a class beyond the tables, refuses them too
        assert task not in table and missing[task]


def test_prx_pixel_is_a_class_beyond_the_tables_and_is_served():
    assert "PRXPixelPipeline" not in {name for table in kit.auto_tables().values() for name in table.values()}
    assert get_registry().table[(prx.PIXEL, frozenset())][Task.TEXT2IMG][0] == "diffusers:PRXPixelPipeline"


def test_diffusers_has_no_other_pipeline_for_the_prx_transformer():
    """Only the two served classes take PRXTransformer2DModel: no image-to-image, inpainting, PAG or ControlNet one. When this fails, serve it."""
    assert kit.pipelines_taking("PRXTransformer2DModel") == {"PRXPipeline", "PRXPixelPipeline"}


def test_the_classes_the_refusals_name_exist():
    kit.check_named_pipelines_exist(prx.NO_IMG2IMG, prx.NO_INPAINT, prx.PIXEL_NO_IMG2IMG, prx.PIXEL_NO_INPAINT)


@pytest.mark.parametrize("vae", [["diffusers", "AutoencoderKL"], ["diffusers", "AutoencoderDC"], [None, None]], ids=["flux-vae", "dc-ae", "no-vae"])
def test_a_saved_prx_folder_resolves_as_diffusers_does_whatever_its_vae(tmp_path, vae):
    (tmp_path / "model_index.json").write_text(json.dumps({**INDEX, "vae": vae}))
    resolution = resolve(tmp_path, Task.TEXT2IMG)
    assert (resolution.family, resolution.pipeline_class) == (prx.PRX, "PRXPipeline")


@pytest.mark.parametrize("family, task, words", [
    (prx.PRX, Task.IMG2IMG, "FluxImg2ImgPipeline, autopipe-flux"),
    (prx.PRX, Task.INPAINT, "FluxFillPipeline, autopipe-flux"),
    (prx.PIXEL, Task.IMG2IMG, "PRXPixelPipeline draws from noise only"),
    (prx.PIXEL, Task.INPAINT, "StableDiffusionXLInpaintPipeline, autopipe-sdxl"),
])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny_checkpoint, family, task, words):
    kit.check_refused(tiny_checkpoint(family), task, words, "use AutoPipelineForText2Image")


@pytest.mark.parametrize("family", prx.FAMILIES)
def test_pag_and_controlnet_are_refused_with_why(tiny_checkpoint, family):
    kit.check_no_pag_or_controlnet(tiny_checkpoint(family), "PRX")


def test_diffusers_knows_no_prx_single_file_so_none_is_claimed():
    """PRXPipeline inherits from_single_file, but diffusers has no PRX key and its transformer has no from_single_file."""
    from diffusers import PRXPipeline

    kit.check_no_diffusers_single_file("prx", classes=["PRXPixelPipeline", "PRXTransformer2DModel"], models=["PRXTransformer2DModel"], plugin=prx)
    assert hasattr(PRXPipeline, "from_single_file")


# Loading code: bfloat16 where the device has it, float32 elsewhere


def _identity(files=BF16_FILES, class_name="PRXPipeline") -> Identity:
    return Identity("folder", "x", class_name, files=files)


def test_the_plan_is_float32_on_a_cpu():
    cpu = plan(_identity(PLAIN_FILES), DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.variant, dict(cpu.component_dtypes)) == ("float32", None, {})


def test_an_accelerator_with_bfloat16_loads_bfloat16_from_bf16_files_where_there_are_some():
    bf16 = plan(_identity(), BF16_GPU)
    assert (bf16.dtype, bf16.variant, dict(bf16.component_dtypes), bf16.skip) == ("bfloat16", "bf16", {}, frozenset())
    assert (plan(_identity(PLAIN_FILES), BF16_GPU).dtype, plan(_identity(PLAIN_FILES), BF16_GPU).variant) == ("bfloat16", None)


def test_an_accelerator_without_bfloat16_loads_float32_never_float16():
    t4 = plan(_identity(PLAIN_FILES, "PRXPixelPipeline"), T4)
    assert (t4.dtype, t4.variant, dict(t4.component_dtypes)) == ("float32", None, {})
    assert NO_FLOAT16 in t4.reason and "cuda has no bfloat16" in t4.reason


def test_no_component_keeps_float32_modules():
    """The header counts are the loaded bytes: no text encoder, transformer or VAE of either family keeps float32 modules."""
    from diffusers import AutoencoderDC, AutoencoderKL, PRXTransformer2DModel
    from transformers import Qwen3VLTextModel
    from transformers.models.t5gemma.modeling_t5gemma import T5GemmaEncoder

    for cls in (T5GemmaEncoder, Qwen3VLTextModel, PRXTransformer2DModel, AutoencoderDC, AutoencoderKL):
        assert not getattr(cls, "_keep_in_fp32_modules", None), cls.__name__
    assert not any(a.float32_modules for a in ALLOWANCES.values())


def test_the_allowances_are_stated_at_each_pipelines_default_side():
    bf16 = plan(_identity(), BF16_GPU)
    at_prx = ALLOWANCES[prx.PRX].activation(_identity(), bf16)
    assert (at_prx.width, at_prx.nbytes) == (512, 3 * GiB // 4 + GiB // 2)
    at_pixel = ALLOWANCES[prx.PIXEL].activation(_identity(class_name="PRXPixelPipeline"), bf16)
    assert (at_pixel.width, at_pixel.nbytes) == (1024, GiB + GiB // 2)
    assert ALLOWANCES[prx.PRX].nbytes(1024, 1024, "bfloat16") == GiB // 2 + 3 * GiB


@pytest.mark.parametrize("family", prx.FAMILIES)
def test_the_tiny_checkpoints_are_planned_at_exactly_their_loaded_bytes(tiny_checkpoint, family):
    path = tiny_checkpoint(family)
    placed = plan_placement(resolve(path, Task.TEXT2IMG), BF16_GPU)
    activation = placed.footprint.activation
    assert placed.plan.dtype == "bfloat16" and activation.width == activation.height == ALLOWANCES[family].default
    assert activation.nbytes == ALLOWANCES[family].nbytes(activation.width, activation.height, "bfloat16")
    pipe = AutoPipelineForText2Image.from_pretrained(path, torch_dtype=torch.bfloat16)
    names = ("text_encoder", "vae", "transformer") if family == prx.PRX else ("text_encoder", "transformer")
    kit.check_counted_as_loaded(placed.footprint, pipe, names)


# The repair: diffusers' T5GemmaEncoder lands on a stale transformers module


def test_diffusers_alone_cannot_load_a_prx_folder_and_the_repair_can(tiny_checkpoint):
    """In a fresh process diffusers' PRXPipeline.from_pretrained fails on the text encoder's class; after the plugin's hook it loads.

    When the first half fails, diffusers (or transformers) no longer loses the class, and the repair can go.
    """
    script = (
        "import sys\n"
        "from diffusers import PRXPipeline\n"
        "from autopipe_prx.loading import from_pretrained, t5gemma_encoder_missing\n"
        "try:\n"
        "    PRXPipeline.from_pretrained(sys.argv[1])\n"
        "    print('LOADED')\n"
        "except ValueError as error:\n"
        "    print('REFUSED', 'has no class `T5GemmaEncoder`' in str(error), t5gemma_encoder_missing())\n"
        "from_pretrained(PRXPipeline, sys.argv[1], {})\n"
        "print('REPAIRED', type(PRXPipeline.from_pretrained(sys.argv[1]).text_encoder).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPIPE_")}
    out = subprocess.run([sys.executable, "-c", script, str(tiny_checkpoint(prx.PRX))], capture_output=True, text=True, env=env, timeout=300)
    assert "REFUSED True True" in out.stdout and "REPAIRED T5GemmaEncoder" in out.stdout, out.stdout + out.stderr[-2000:]


# The tiny checkpoints and what the PRX pipelines do


def test_the_tiny_builder_refuses_variants_and_other_families(tmp_path):
    with pytest.raises(ValueError):
        tiny.build(prx.PRX, tmp_path / "x", variant="bf16")
    with pytest.raises(ValueError, match="builds no tiny 'flux'"):
        tiny.pipeline("flux")


def test_the_tiny_prx_saves_its_text_encoder_as_prx_checkpoints_do(tiny_checkpoint):
    path = tiny_checkpoint(prx.PRX)
    index = json.loads((path / "model_index.json").read_text())
    assert index["text_encoder"] == ["transformers", "T5GemmaEncoder"] and index["vae"] == ["diffusers", "AutoencoderDC"]
    assert index["default_sample_size"] == tiny.PRX_SIDE
    config = json.loads((path / "text_encoder" / "config.json").read_text())
    assert config["model_type"] == "t5gemma" and config["architectures"] == ["T5GemmaEncoder"]
    assert config["encoder"]["hidden_size"] == tiny.TEXT_WIDTH and config["encoder"]["is_decoder"] is False


@pytest.mark.parametrize("family, side", [(prx.PRX, tiny.PRX_SIDE), (prx.PIXEL, tiny.PIXEL_SIDE)])
def test_a_call_with_no_size_draws_at_the_checkpoints_side_and_binning_resizes_to_what_is_asked(tiny_checkpoint, family, side):
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(family))
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a red fox", num_inference_steps=1).images[0].size == (side, side)
    assert pipe("a red fox", num_inference_steps=1, height=64, width=96).images[0].size == (96, 64)


def test_prx_runs_with_fluxs_vae_too_and_without_a_vae_gives_latents(tiny_checkpoint):
    """PRXPipeline takes an AutoencoderKL (FLUX.1's 16 channels, 2 x 2 patches) or no VAE (latents only; an image is refused)."""
    from diffusers import PRXPipeline

    from autopipe_core import toolkit

    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(prx.PRX))
    pipe.set_progress_bar_config(disable=True)
    flux_vae = toolkit.tiny.vae(latent_channels=16, scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False)
    with_kl = PRXPipeline(transformer=tiny.transformer(in_channels=16, patch_size=2), scheduler=pipe.scheduler, text_encoder=pipe.text_encoder,
                          tokenizer=pipe.tokenizer, vae=flux_vae, default_sample_size=tiny.PRX_SIDE)
    with_kl.set_progress_bar_config(disable=True)
    assert with_kl("a red fox", **CALL).images[0].size == (64, 64)
    bare = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(prx.PRX), vae=None)
    bare.set_progress_bar_config(disable=True)
    latents = bare("a red fox", output_type="latent", **CALL).images
    assert latents.shape == (1, tiny.DC_LATENT_CHANNELS, 8, 8)  # no VAE: PRXPipeline assumes an 8x one (vae_scale_factor 8)
    with pytest.raises(ValueError, match="VAE is required"):
        bare("a red fox", **CALL)


def test_ftfy_is_there_since_both_pipelines_clean_every_prompt_with_it():
    from diffusers.utils import is_ftfy_available

    assert is_ftfy_available()
    from diffusers.pipelines.prx.pipeline_prx import TextPreprocessor

    assert TextPreprocessor().clean_text("A <person> at https://example.com") == "a person at"
