"""autopipe-pixart's registration against diffusers' own tables, and PixArt-α and PixArt-Σ: configs, refusals, loading plans."""

from __future__ import annotations


import pytest
import torch

import autopipe_pixart as pixart
from autopipe_core import AutoPipelineForText2Image, DeviceFacts, GiB, Identity, Task, UnsupportedTaskError, resolve
from autopipe_core.planning import plan as plan_placement
from autopipe_core.registry import get_registry
from autopipe_core.testing import check_registered_alone, check_rows_serve_diffusers, loaded_bytes, write_json_files
from autopipe_pixart.loading import PIXART_ALLOWANCE, plan

#: diffusers' AutoPipeline keys this plugin serves (diffusers.pipelines.auto_pipeline, 0.42.1).
#: diffusers' AutoPipeline keys this plugin serves (diffusers.pipelines.auto_pipeline, 0.42.1) -> the row serving each.
DIFFUSERS_KEYS = {
    "pixart-alpha": pixart.PIXART_ALPHA, "pixart-sigma": pixart.PIXART_SIGMA, "pixart-sigma-pag": (pixart.PIXART_SIGMA, {"pag"}),
    "sana": pixart.SANA, "sana-pag": (pixart.SANA, {"pag"}),
}
ROOMY_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
FP16_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.fp16.safetensors", "transformer/diffusion_pytorch_model.safetensors")
FP32_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors")

#: The component configs resolution and the loading code read, as PixArt-alpha/PixArt-XL-2-1024-MS and
#: PixArt-alpha/PixArt-Sigma-XL-2-2K-MS ship them (the keys that matter; no weights).
PIXART_INDEX = {
    "scheduler": ["diffusers", "DPMSolverMultistepScheduler"],
    "text_encoder": ["transformers", "T5EncoderModel"],
    "tokenizer": ["transformers", "T5Tokenizer"],
    "transformer": ["diffusers", "PixArtTransformer2DModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}
PIXART_TRANSFORMER = {
    "_class_name": "PixArtTransformer2DModel", "patch_size": 2, "in_channels": 4, "out_channels": 8, "num_layers": 28,
    "num_attention_heads": 16, "attention_head_dim": 72, "caption_channels": 4096, "norm_type": "ada_norm_single",
}
REAL = {
    "pixart-alpha-1024": {
        "model_index.json": {"_class_name": "PixArtAlphaPipeline", **PIXART_INDEX},
        "transformer/config.json": {**PIXART_TRANSFORMER, "sample_size": 128},
    },
    "pixart-sigma-2k": {
        "model_index.json": {"_class_name": "PixArtSigmaPipeline", **PIXART_INDEX},
        "transformer/config.json": {**PIXART_TRANSFORMER, "sample_size": 256, "interpolation_scale": 4, "use_additional_conditions": False},
    },
}


# Registration, against diffusers' own AutoPipeline tables


def test_the_four_families_and_their_rows_are_registered_alone():
    check_registered_alone("autopipe-pixart", pixart.FAMILIES, [
        pixart.PIXART_ALPHA, pixart.PIXART_SIGMA, (pixart.PIXART_SIGMA, {"pag"}),
        pixart.SANA, (pixart.SANA, {"pag"}), (pixart.SANA, {"controlnet"}), pixart.SANA_SPRINT,
    ])


def test_every_row_of_diffusers_tables_for_these_keys_is_served_with_diffusers_class():
    """For each key and task diffusers' AutoPipeline maps, resolving a folder of that class gives the same class."""
    served = check_rows_serve_diffusers(DIFFUSERS_KEYS, naming=("pixart", "sana"))  # diffusers 0.42.1 has no other key for this lineage
    # text2img only: diffusers' image-to-image and inpainting tables have no PixArt or Sana key (the others are refused with why)
    assert served == {
        "pixart-alpha": {Task.TEXT2IMG: "PixArtAlphaPipeline"}, "pixart-sigma": {Task.TEXT2IMG: "PixArtSigmaPipeline"},
        "pixart-sigma-pag": {Task.TEXT2IMG: "PixArtSigmaPAGPipeline"}, "sana": {Task.TEXT2IMG: "SanaPipeline"},
        "sana-pag": {Task.TEXT2IMG: "SanaPAGPipeline"},
    }


@pytest.mark.parametrize("family", pixart.FAMILIES)
def test_every_class_takes_the_lineages_components(family):
    """Each registered class is a diffusers pipeline over a transformer, a text encoder, its tokenizer, a VAE and a scheduler."""
    import diffusers

    registry = get_registry()
    for (row_family, _), tasks in registry.table.items():
        if row_family != family:
            continue
        for ref, _ in tasks.values():
            module, _, name = ref.partition(":")
            assert module == "diffusers"
            cls = getattr(diffusers, name)
            expected, _ = cls._get_signature_keys(cls)
            assert {"transformer", "text_encoder", "tokenizer", "vae", "scheduler"} <= set(expected), name


# PixArt-α and PixArt-Σ on the configs real checkpoints ship


def test_the_real_pixart_configs_resolve_as_diffusers_does(tmp_path):
    alpha = resolve(write_json_files(tmp_path / "alpha", REAL["pixart-alpha-1024"]), Task.TEXT2IMG)
    sigma = resolve(write_json_files(tmp_path / "sigma", REAL["pixart-sigma-2k"]), Task.TEXT2IMG)
    assert (alpha.family, alpha.pipeline_class) == (pixart.PIXART_ALPHA, "PixArtAlphaPipeline")
    assert (sigma.family, sigma.pipeline_class) == (pixart.PIXART_SIGMA, "PixArtSigmaPipeline")
    assert resolve(tmp_path / "sigma", Task.TEXT2IMG, enable_pag=True).pipeline_class == "PixArtSigmaPAGPipeline"


def test_pag_on_pixart_alpha_is_refused_with_why(tmp_path):
    with pytest.raises(UnsupportedTaskError, match="no PAG pipeline for PixArt-α: PixArtSigmaPAGPipeline is PixArt-Σ's"):
        resolve(write_json_files(tmp_path / "alpha", REAL["pixart-alpha-1024"]), Task.TEXT2IMG, enable_pag=True)


@pytest.mark.parametrize("task, words", [(Task.IMG2IMG, "SanaSprintImg2ImgPipeline"), (Task.INPAINT, "StableDiffusionXLInpaintPipeline")])
def test_pixart_img2img_and_inpaint_are_refused_saying_what_to_use(tmp_path, task, words):
    with pytest.raises(UnsupportedTaskError) as refusal:
        resolve(write_json_files(tmp_path / "sigma", REAL["pixart-sigma-2k"]), task)
    assert words in str(refusal.value) and "use AutoPipelineForText2Image" in str(refusal.value)


# Loading code: float16 as published, T5's float32 layers counted, the allowance at the native size


def _identity(files=FP16_FILES, sample_size=128, cls="PixArtSigmaPipeline"):
    return Identity("folder", "x", cls, files=files, configs={"transformer": {"sample_size": sample_size}})


def test_pixart_loads_float32_on_a_cpu_and_float16_on_a_gpu_from_the_files_it_has():
    cpu = plan(pixart.PIXART_ALPHA, _identity(), DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.variant, dict(cpu.component_dtypes)) == ("float32", None, {})
    gpu = plan(pixart.PIXART_ALPHA, _identity(FP16_FILES), ROOMY_GPU)
    assert (gpu.dtype, gpu.variant, dict(gpu.component_dtypes), gpu.skip) == ("float16", "fp16", {}, frozenset())
    assert "fp16 weight files" in gpu.reason and "wo layers kept in float32" in gpu.reason
    full = plan(pixart.PIXART_SIGMA, _identity(FP32_FILES), ROOMY_GPU)  # a GPU with bfloat16: PixArt stays float16, as published
    assert (full.dtype, full.variant) == ("float16", None) and "no fp16 variant" in full.reason


@pytest.mark.parametrize("sample_size, side", [(64, 512), (128, 1024), (256, 2048)])
def test_the_pixart_allowance_is_stated_at_the_transformers_native_side(sample_size, side):
    identity = _identity(sample_size=sample_size)
    activation = PIXART_ALLOWANCE.activation(identity, plan(pixart.PIXART_SIGMA, identity, ROOMY_GPU))
    assert (activation.width, activation.height) == (side, side)
    assert activation.nbytes == GiB // 2 + (3 * GiB // 2) * side * side // (1024 * 1024)


def test_t5s_float32_layers_are_counted_and_loaded_as_the_plan_says(tiny_checkpoint):
    """Planned in float16, the T5 text encoder holds its wo layers in float32: the footprint counts what loading gives."""
    path = tiny_checkpoint(pixart.PIXART_SIGMA)
    resolution = resolve(path, Task.TEXT2IMG)
    placed = plan_placement(resolution, ROOMY_GPU)
    counted = placed.footprint.component("text_encoder")
    assert counted.dtype == "float16" and "wo kept in float32" in counted.source
    pipe = AutoPipelineForText2Image.from_pretrained(path, dtype=torch.float16)
    held = {n: p.dtype for n, p in pipe.text_encoder.named_parameters()}
    assert {d for n, d in held.items() if n.endswith("wo.weight")} == {torch.float32}
    assert counted.nbytes == loaded_bytes(pipe.text_encoder)
    assert counted.nbytes > 2 * counted.parameters  # more than float16 alone


# Why the VAE stays in the transformer's dtype: two of PixArt's three pipelines do not cast the latents to it


@pytest.mark.parametrize("enable_pag, family, fails", [
    (False, pixart.PIXART_ALPHA, True),
    (False, pixart.PIXART_SIGMA, False),
    (True, pixart.PIXART_SIGMA, True),
])
def test_a_vae_in_another_dtype_breaks_pixart_alpha_and_sigma_pag(tiny_checkpoint, enable_pag, family, fails):
    """diffusers 0.42.1: PixArtAlphaPipeline and PixArtSigmaPAGPipeline decode latents of the transformer's dtype with the VAE as it is.

    So a float32 VAE under a half-precision transformer (what SDXL's VAE,
    PixArt-Σ's, would want in float16) fails there, and the plan keeps every
    component in one dtype. When this test fails, diffusers casts the latents
    in all three: the plan could then load PixArt-Σ's VAE in float32.
    """
    pipe = AutoPipelineForText2Image.from_pretrained(
        tiny_checkpoint(family), dtype={"default": torch.bfloat16, "vae": torch.float32}, enable_pag=enable_pag,
    )
    pipe.set_progress_bar_config(disable=True)
    call = dict(num_inference_steps=2, clean_caption=False, height=64, width=64, use_resolution_binning=False)
    if fails:
        with pytest.raises(RuntimeError, match="should be the same"):
            pipe("a red fox", **call)
    else:
        assert pipe("a red fox", **call).images[0].size == (64, 64)

