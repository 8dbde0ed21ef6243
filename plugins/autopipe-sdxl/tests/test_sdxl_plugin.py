"""autopipe-sdxl's own pieces: registration, variants on real configs, loading code, tiny builder, imports."""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import autopipe_sdxl.plugin
from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DeviceFacts,
    Identity,
    LoadPlan,
    Task,
    UnsupportedTaskError,
    loading,
    resolve,
)
from autopipe_core.known import known_classes
from autopipe_core.registry import get_registry
from autopipe_core.testing import check_registered_alone, write_json_files
from autopipe_sdxl import BASE_ADD_EMBED_DIM, FAMILY, REFINER_ADD_EMBED_DIM
from autopipe_sdxl.plugin import INPAINTING, LATENTS_NORMALISED, NOT_KOLORS, REFINER
from autopipe_sdxl.loading import ACTIVATION_AT_NATIVE, ACTIVATION_AT_NATIVE_FP16_VAE, FIXED, plan

GiB = 1 << 30
ROOMY_GPU = DeviceFacts("cuda", 1, 40 * GiB, 80 * GiB, True)
FP16_FILES = ("model_index.json", "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.safetensors")
FP32_FILES = ("model_index.json", "unet/diffusion_pytorch_model.safetensors")
UPCAST_VAE = {"vae": {"_class_name": "AutoencoderKL", "force_upcast": True}}
FP16_SAFE = {"vae": {"_class_name": "AutoencoderKL", "force_upcast": False}}

# model_index.json and the configs resolution reads, as stabilityai/stable-diffusion-xl-{base,refiner}-1.0 ship them
# (the keys that matter; no weights: resolution reads JSON only).
REAL = {
    "base": {
        "model_index.json": {
            "_class_name": "StableDiffusionXLPipeline",
            "_diffusers_version": "0.19.0.dev0",
            "force_zeros_for_empty_prompt": True,
            "add_watermarker": None,
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "tokenizer_2": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
        "unet/config.json": {
            "_class_name": "UNet2DConditionModel",
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 256,
            "block_out_channels": [320, 640, 1280],
            "cross_attention_dim": 2048,
            "in_channels": 4,
            "projection_class_embeddings_input_dim": 2816,
            "transformer_layers_per_block": [1, 2, 10],
        },
        "vae/config.json": {"_class_name": "AutoencoderKL", "force_upcast": True, "scaling_factor": 0.13025},
    },
    "refiner": {
        "model_index.json": {
            "_class_name": "StableDiffusionXLImg2ImgPipeline",
            "_diffusers_version": "0.19.0.dev0",
            "force_zeros_for_empty_prompt": False,
            "add_watermarker": None,
            "requires_aesthetics_score": True,
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            "text_encoder": [None, None],
            "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
            "tokenizer": [None, None],
            "tokenizer_2": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
        "unet/config.json": {
            "_class_name": "UNet2DConditionModel",
            "addition_embed_type": "text_time",
            "addition_time_embed_dim": 256,
            "block_out_channels": [384, 768, 1536, 1536],
            "cross_attention_dim": 1280,
            "in_channels": 4,
            "projection_class_embeddings_input_dim": 2560,
            "transformer_layers_per_block": 4,
        },
        "vae/config.json": {"_class_name": "AutoencoderKL", "force_upcast": True, "scaling_factor": 0.13025},
    },
}


def _identity(files=FP16_FILES, configs=UPCAST_VAE):
    return Identity("folder", "x", "StableDiffusionXLPipeline", files=files, configs=configs)


# Registration


def test_family_and_rows_are_registered_without_autopipe_sd():
    registry = check_registered_alone("autopipe-sdxl", {FAMILY}, [FAMILY, (FAMILY, {"pag"})])  # the core registers enable_pag
    spec, _ = registry.families[FAMILY]
    assert spec.variants == (REFINER, INPAINTING, LATENTS_NORMALISED)
    assert spec.config_components == ("unet", "vae") and spec.requires == (NOT_KOLORS,)


def test_every_class_reference_names_a_diffusers_class_that_takes_sdxl_components():
    for row in autopipe_sdxl.plugin.autopipe_pipelines():
        assert set(row.classes) == set(Task)
        for task, ref in row.classes.items():
            module, _, name = ref.partition(":")
            assert module == "diffusers"
            cls = getattr(importlib.import_module(module), name)
            expected, _ = cls._get_signature_keys(cls)
            assert {"text_encoder_2", "tokenizer_2", "unet", "vae"} <= set(expected), name
            assert ("PAG" in name) == ("pag" in row.modifiers), name


def test_the_install_hints_name_this_plugin_for_every_class_it_registers():
    for row in autopipe_sdxl.plugin.autopipe_pipelines():
        for ref in row.classes.values():
            assert known_classes()[ref.rpartition(":")[2]] == ("autopipe-sdxl",)


def test_no_conflict_with_autopipe_sd_when_both_are_installed(monkeypatch):
    import autopipe_sd  # noqa: F401 - make setup installs every shipped plugin: without it this test fails, it does not skip

    monkeypatch.setenv("AUTOPIPE_PLUGINS", "autopipe-sd,autopipe-sdxl")
    registry = get_registry()
    assert {p.distribution for p in registry.plugins if p.ok} >= {"autopipe-sd", "autopipe-sdxl"}
    assert registry.conflicts == ()
    assert registry.classes["StableDiffusionPipeline"].plugin == "autopipe-sd"
    assert registry.classes["StableDiffusionXLImg2ImgPipeline"].plugin == "autopipe-sdxl"


# The variants, on the configs real checkpoints ship


def test_the_refiner_number_is_derived_from_the_micro_conditioning():
    assert (BASE_ADD_EMBED_DIM, REFINER_ADD_EMBED_DIM) == (2816, 2560)
    assert REFINER.matches({"unet": REAL["refiner"]["unet/config.json"]})
    assert not REFINER.matches({"unet": REAL["base"]["unet/config.json"]})


@pytest.mark.parametrize("task", ["img2img", "inpaint"])
def test_the_real_refiners_configs_resolve_for_img2img_and_inpaint(tmp_path, task):
    r = resolve(write_json_files(tmp_path / "refiner", REAL["refiner"]), task)
    assert (r.pipeline_class, r.variant) == (f"StableDiffusionXL{'Img2Img' if task == 'img2img' else 'Inpaint'}Pipeline", "refiner")


def test_the_real_refiners_configs_refuse_text2img(tmp_path):
    with pytest.raises(UnsupportedTaskError, match="refiner stable-diffusion-xl checkpoint.*AutoPipelineForImage2Image"):
        resolve(write_json_files(tmp_path / "refiner", REAL["refiner"]), "text2img")


@pytest.mark.parametrize("task", list(Task))
def test_the_real_bases_configs_resolve_for_every_task(tmp_path, task):
    r = resolve(write_json_files(tmp_path / "base", REAL["base"]), task)
    assert r.family == FAMILY and r.variant is None


def test_a_fp16_safe_vae_restricts_no_task(tmp_path):
    files = {**REAL["base"], "vae/config.json": {"_class_name": "AutoencoderKL", "force_upcast": False}}
    folder = write_json_files(tmp_path / "fp16fix", files)
    assert {t: resolve(folder, t).variant for t in Task} == dict.fromkeys(Task, None)


# Loading code


def test_cpu_loads_float32_whole():
    p = plan(_identity(), DeviceFacts("cpu"))
    assert (p.dtype, p.variant, p.placement, p.device, dict(p.component_dtypes)) == ("float32", None, "device", "cpu", {})


def test_cuda_loads_float16_with_the_fp16_variant_when_the_files_exist():
    p = plan(_identity(FP16_FILES), ROOMY_GPU)
    assert (p.dtype, p.variant, p.placement, p.device) == ("float16", "fp16", "device", "cuda")
    assert "fp16 weight files" in p.reason


def test_cuda_without_fp16_files_loads_float16_from_the_full_files():
    p = plan(_identity(FP32_FILES), ROOMY_GPU)
    assert (p.dtype, p.variant) == ("float16", None) and "no fp16 variant" in p.reason
    unknown = plan(_identity(None), ROOMY_GPU)
    assert unknown.variant is None and "file list unknown" in unknown.reason


def test_the_activation_allowance_is_smaller_with_a_float16_safe_vae():
    from autopipe_core.planning import Footprint
    from autopipe_sdxl.loading import footprint

    p = plan(_identity(), DeviceFacts("cuda", 1, 4 * GiB, 12 * GiB))
    assert p.placement == "device"  # the core plans the placement from the weights
    upcast = footprint(_identity(configs=UPCAST_VAE), p, Footprint(()), None, None).activation
    safe = footprint(_identity(configs=FP16_SAFE), p, Footprint(()), None, None).activation
    assert (upcast.nbytes, upcast.width, upcast.height) == (ACTIVATION_AT_NATIVE + FIXED, 1024, 1024)
    assert safe.nbytes == ACTIVATION_AT_NATIVE_FP16_VAE + FIXED < upcast.nbytes


def test_a_force_upcast_vae_is_left_to_diffusers_upcast_and_the_reason_says_so():
    p = plan(_identity(configs=UPCAST_VAE), ROOMY_GPU)
    assert dict(p.component_dtypes) == {} and "force_upcast true" in p.reason and "diffusers" in p.reason
    # a VAE config without the key: AutoencoderKL's default, force_upcast True
    assert "force_upcast true" in plan(_identity(configs={"vae": {"_class_name": "AutoencoderKL"}}), ROOMY_GPU).reason
    assert "not read" in plan(_identity(configs={}), ROOMY_GPU).reason


def test_with_float32_vae_a_force_upcast_vae_gets_float32_and_a_fp16_safe_one_does_not():
    p = plan(_identity(configs=UPCAST_VAE), ROOMY_GPU, float32_vae=True)
    assert dict(p.component_dtypes) == {"vae": "float32"} and "VAE in float32" in p.reason
    assert dict(plan(_identity(configs={}), ROOMY_GPU, float32_vae=True).component_dtypes) == {"vae": "float32"}
    low = plan(_identity(configs=UPCAST_VAE), DeviceFacts("cuda", 1, 4 * GiB, 8 * GiB), float32_vae=True)
    assert dict(low.component_dtypes) == {"vae": "float32"}
    safe = plan(_identity(configs=FP16_SAFE), ROOMY_GPU, float32_vae=True)
    assert dict(safe.component_dtypes) == {} and "force_upcast false" in safe.reason


def test_a_fp16_safe_vae_stays_float16():
    p = plan(_identity(configs=FP16_SAFE), ROOMY_GPU)
    assert (p.dtype, dict(p.component_dtypes)) == ("float16", {}) and "force_upcast false" in p.reason


def test_the_core_reads_the_vae_config_and_asks_this_plugin(tiny_sdxl, tiny_sdxl_fp16_safe_vae):
    r = resolve(tiny_sdxl, "text2img")
    assert r.identity.configs["vae"]["force_upcast"] is True
    assert "force_upcast true" in loading.plan(r, ROOMY_GPU).reason
    safe = resolve(tiny_sdxl_fp16_safe_vae, "text2img")
    assert safe.identity.configs["vae"]["force_upcast"] is False
    assert "force_upcast false" in loading.plan(safe, ROOMY_GPU).reason
    assert loading.plan(r, ROOMY_GPU).variant is None  # the tiny checkpoint has no fp16 files


def test_the_core_sees_fp16_files_of_a_saved_checkpoint(tmp_path, tiny_sdxl):
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_sdxl)
    pipe.save_pretrained(tmp_path / "m")
    pipe.save_pretrained(tmp_path / "m", variant="fp16")
    p = loading.plan(resolve(tmp_path / "m", "text2img"), ROOMY_GPU)
    assert (p.dtype, p.variant, p.placement) == ("float16", "fp16", "device")


def _plan_kwargs(folder, float32_vae=None):
    """from_pretrained keywords of the plan for a roomy GPU: the plugin's own (through the core) unless float32_vae is given."""
    r = resolve(folder, "text2img")
    p = loading.plan(r, ROOMY_GPU) if float32_vae is None else plan(r.identity, ROOMY_GPU, float32_vae=float32_vae)
    return loading.load_kwargs(p, {})


@pytest.mark.parametrize("auto", [AutoPipelineForText2Image, AutoPipelineForImage2Image, AutoPipelineForInpainting])
def test_the_gpu_plan_applied_makes_a_working_pipeline(tiny_sdxl, auto):
    # The GPU plan's from_pretrained keywords, run on the CPU (which has float16 kernels too).
    from PIL import Image

    pipe = auto.from_pretrained(tiny_sdxl, **_plan_kwargs(tiny_sdxl))
    assert pipe.unet.dtype == torch.float16 and pipe.vae.dtype == torch.float16 and pipe.vae.config.force_upcast
    kwargs = {}
    if auto is not AutoPipelineForText2Image:
        kwargs = {"image": Image.new("RGB", (64, 64), (90, 160, 220)), "strength": 1.0}
    if auto is AutoPipelineForInpainting:
        kwargs["mask_image"] = Image.new("L", (64, 64), 255)
    out = pipe("a red fox", num_inference_steps=2, output_type="np", **kwargs).images
    assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()
    assert pipe.vae.dtype == torch.float16  # diffusers upcast it for the decode and put it back


def test_diffusers_still_fails_text2img_with_a_float32_vae_under_float16(tiny_sdxl):
    """Why FLOAT32_VAE is False: when this test fails, diffusers has fixed it; set FLOAT32_VAE = True."""
    kwargs = _plan_kwargs(tiny_sdxl, float32_vae=True)
    assert kwargs[loading.dtype_keyword()] == {"default": torch.float16, "vae": torch.float32}
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_sdxl, **kwargs)
    assert pipe.vae.dtype == torch.float32 and pipe.unet.dtype == torch.float16
    try:
        pipe("a red fox", num_inference_steps=2, output_type="np")
    except RuntimeError as exc:
        assert "Half" in str(exc) and "float" in str(exc), exc
    else:
        pytest.fail("diffusers now decodes float16 latents with a float32 VAE: set autopipe_sdxl.loading.FLOAT32_VAE = True")


def test_load_on_cpu_applies_the_plan(tiny_sdxl_refiner):
    pipe, resolution, p = loading.load(tiny_sdxl_refiner, "inpaint", "cpu")
    assert type(pipe).__name__ == "StableDiffusionXLInpaintPipeline" == resolution.pipeline_class
    assert resolution.variant == "refiner" and p == LoadPlan("float32", None, "device", "cpu", p.reason)
    assert pipe.unet.dtype == torch.float32 and pipe.vae.dtype == torch.float32


# Tiny builder


def _index(folder):
    return json.loads((folder / "model_index.json").read_text())


def _config(folder, component):
    return json.loads((folder / component / "config.json").read_text())


def test_tiny_base_has_sdxl_s_two_text_encoders_and_micro_conditioning(tiny_sdxl):
    index = _index(tiny_sdxl)
    assert index["_class_name"] == "StableDiffusionXLPipeline" and index["force_zeros_for_empty_prompt"] is True
    assert index["text_encoder"] == ["transformers", "CLIPTextModel"]
    assert index["text_encoder_2"] == ["transformers", "CLIPTextModelWithProjection"]
    assert index["tokenizer"] == index["tokenizer_2"] == ["transformers", "CLIPTokenizer"]
    unet, te1, te2 = (_config(tiny_sdxl, c) for c in ("unet", "text_encoder", "text_encoder_2"))
    assert unet["addition_embed_type"] == "text_time" and unet["addition_time_embed_dim"] == 256
    assert unet["projection_class_embeddings_input_dim"] == te2["projection_dim"] + 6 * 256 == BASE_ADD_EMBED_DIM
    assert unet["cross_attention_dim"] == te1["hidden_size"] + te2["hidden_size"]
    assert list(unet["transformer_layers_per_block"]) == [1, 2]
    assert _config(tiny_sdxl, "vae")["force_upcast"] is True
    assert sum(f.stat().st_size for f in tiny_sdxl.rglob("*")) < 5 << 20


def test_tiny_refiner_is_shaped_like_the_real_one(tiny_sdxl_refiner):
    index = _index(tiny_sdxl_refiner)
    assert index["_class_name"] == "StableDiffusionXLImg2ImgPipeline"
    assert index["text_encoder"] == index["tokenizer"] == [None, None]
    assert index["requires_aesthetics_score"] is True and index["force_zeros_for_empty_prompt"] is False
    unet, te2 = _config(tiny_sdxl_refiner, "unet"), _config(tiny_sdxl_refiner, "text_encoder_2")
    assert unet["projection_class_embeddings_input_dim"] == te2["projection_dim"] + 5 * 256 == REFINER.value
    assert unet["cross_attention_dim"] == te2["hidden_size"]
    assert not (tiny_sdxl_refiner / "text_encoder").exists()


def test_tiny_inpainting_only_and_fp16_safe_vae(tiny_sdxl_inpainting, tiny_sdxl_fp16_safe_vae):
    assert _index(tiny_sdxl_inpainting)["_class_name"] == "StableDiffusionXLInpaintPipeline"
    assert _config(tiny_sdxl_inpainting, "unet")["in_channels"] == INPAINTING.value
    assert _config(tiny_sdxl_fp16_safe_vae, "vae")["force_upcast"] is False
    assert _config(tiny_sdxl_fp16_safe_vae, "unet")["in_channels"] == 4


def test_tiny_builder_builds_every_declared_variant_and_refuses_others(tmp_path):
    from autopipe_sdxl.tiny import VARIANT_NAMES, build

    spec = autopipe_sdxl.plugin.autopipe_families()[0]
    assert set(VARIANT_NAMES) == {None, autopipe_sdxl.plugin.FP16_SAFE_VAE, *(v.name for v in spec.variants)}
    with pytest.raises(ValueError, match="no tiny variant"):
        build(tmp_path / "x", "turbo")


def test_tokenizers_are_built_in_memory_and_truncate_at_77():
    from autopipe_core.toolkit.tokenizers import clip_characters as clip_tokenizer

    for tok in (clip_tokenizer(), clip_tokenizer(pad_token="!")):
        ids = tok("a photo of an astronaut " * 20, truncation=True, max_length=tok.model_max_length).input_ids
        assert tok.model_max_length == 77 and len(ids) == 77
    assert clip_tokenizer(pad_token="!").pad_token == "!"  # SDXL's tokenizer_2 pads with "!"


# Imports


HEAVY = ("torch", "diffusers", "transformers")


def test_the_plugin_and_resolution_import_nothing_heavy(tiny_sdxl, tiny_sdxl_refiner):
    code = (
        "import autopipe_sdxl.plugin\n"
        "from autopipe_sdxl.loading import plan\n"
        "from autopipe_core import DeviceFacts, resolve\n"
        "autopipe_sdxl.plugin.autopipe_families(); autopipe_sdxl.plugin.autopipe_pipelines()\n"
        f"for t in ('text2img', 'img2img', 'inpaint'): r = resolve({str(tiny_sdxl)!r}, t)\n"
        "plan(r.identity, DeviceFacts('cuda', 1, 1 << 34, 1 << 35))\n"
        f"for t in ('img2img', 'inpaint'): resolve({str(tiny_sdxl_refiner)!r}, t)\n"
        "import sys, json\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    env = {**os.environ, "AUTOPIPE_PLUGINS": "autopipe-sdxl"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_latents_normalised_vae_is_refused_for_inpainting_and_kept_for_the_rest(tiny_checkpoint):
    from autopipe_core import UnsupportedTaskError, resolve

    path = tiny_checkpoint("stable-diffusion-xl", LATENTS_NORMALISED.name)
    assert resolve(path, "text2img").pipeline_class == "StableDiffusionXLPipeline"
    assert resolve(path, "img2img").variant == LATENTS_NORMALISED.name
    with pytest.raises(UnsupportedTaskError, match="latents_mean and latents_std .*#7484"):
        resolve(path, "inpaint")


def test_an_unet_projecting_text_embeddings_is_not_sdxl(tiny_checkpoint, tmp_path):
    import json
    import shutil

    from autopipe_core import UnsupportedModelError, resolve

    folder = tmp_path / "kolors-like"
    shutil.copytree(tiny_checkpoint("stable-diffusion-xl"), folder)
    config = json.loads((folder / "unet" / "config.json").read_text())
    config.update(encoder_hid_dim=4096, encoder_hid_dim_type="text_proj")
    (folder / "unet" / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedModelError, match="names StableDiffusionXLPipeline, a stable-diffusion-xl class .* but it is not stable-diffusion-xl: .*4096-wide .*Kolors"):
        resolve(folder, "text2img")
