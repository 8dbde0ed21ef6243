"""autopipe-sd's own pieces: its loading code and its tiny checkpoint builder."""

import json

import pytest
import torch

from autopipe_core import DeviceFacts, Identity, LoadPlan, resolve
from autopipe_core import loading, planning
from autopipe_sd.plugin import INPAINTING
from autopipe_sd.loading import ACTIVATION_AT_NATIVE, FIXED, plan

GiB = 1 << 30
FP16_FILES = ("model_index.json", "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.safetensors")
FP32_FILES = ("model_index.json", "unet/diffusion_pytorch_model.safetensors")


def _identity(files):
    return Identity("folder", "x", "StableDiffusionPipeline", files=files)


def test_cpu_loads_float32_whole():
    p = plan(_identity(FP16_FILES), DeviceFacts("cpu"))
    assert (p.dtype, p.variant, p.placement) == ("float32", None, "device")


def test_cuda_loads_float16_with_the_fp16_variant_when_the_files_exist():
    p = plan(_identity(FP16_FILES), DeviceFacts("cuda", 1, 20 * GiB, 24 * GiB, True))
    assert (p.dtype, p.variant, p.placement, p.device) == ("float16", "fp16", "device", "cuda")


def test_cuda_without_fp16_files_loads_float16_from_the_full_files():
    p = plan(_identity(FP32_FILES), DeviceFacts("cuda", 1, 20 * GiB, 24 * GiB))
    assert (p.dtype, p.variant) == ("float16", None)
    assert "no fp16 variant" in p.reason
    assert plan(_identity(None), DeviceFacts("cuda", 1)).variant is None


def test_the_family_leaves_placement_to_the_core_and_declares_its_activation_allowance(tiny_sd):
    assert plan(_identity(FP16_FILES), DeviceFacts("cuda", 1, 1 * GiB, 4 * GiB)).placement == "device"
    r = resolve(tiny_sd, "text2img")
    placed = planning.plan(r, DeviceFacts("cuda", 1, 20 * GiB, 24 * GiB), width=512, height=512)
    assert placed.footprint.activation.nbytes == ACTIVATION_AT_NATIVE + FIXED == 3 * GiB // 2
    assert planning.plan(r, DeviceFacts("cuda", 1, GiB // 2, 4 * GiB)).plan.placement == "sequential_cpu_offload"


def test_the_core_asks_the_family_for_its_plan(tiny_sd, tmp_path):
    r = resolve(tiny_sd, "text2img")
    assert loading.plan(r, DeviceFacts("cuda", 1, 20 * GiB, 24 * GiB)).variant is None
    # the same checkpoint with fp16 files saved beside the full ones
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd)
    pipe.save_pretrained(tmp_path / "m")
    pipe.save_pretrained(tmp_path / "m", variant="fp16")
    r16 = resolve(tmp_path / "m", "text2img")
    assert loading.plan(r16, DeviceFacts("cuda", 1, 20 * GiB, 24 * GiB)) == LoadPlan("float16", "fp16", "device", "cuda", loading.plan(r16, DeviceFacts("cuda", 1, 20 * GiB, 24 * GiB)).reason)


def test_load_kwargs_explicit_arguments_win():
    p = LoadPlan("float16", "fp16", "device", "cuda", "")
    assert loading.load_kwargs(p, {}) == {loading.dtype_keyword(): torch.float16, "variant": "fp16"}
    assert loading.load_kwargs(p, {"torch_dtype": torch.float32, "variant": None}) == {"torch_dtype": torch.float32, "variant": None}
    assert loading.load_kwargs(p, {"dtype": torch.float32}) == {"dtype": torch.float32, "variant": "fp16"}


def test_load_on_cpu_applies_the_plan(tiny_sd):
    pipe, resolution, p = loading.load(tiny_sd, "img2img", "cpu")
    assert type(pipe).__name__ == "StableDiffusionImg2ImgPipeline" == resolution.pipeline_class
    assert pipe.unet.dtype == torch.float32 and p.placement == "device"


def test_tiny_builder_writes_a_diffusers_folder(tiny_sd, tiny_sd_inpainting):
    assert json.loads((tiny_sd / "model_index.json").read_text())["_class_name"] == "StableDiffusionPipeline"
    assert json.loads((tiny_sd / "unet" / "config.json").read_text())["in_channels"] == 4
    assert json.loads((tiny_sd_inpainting / "unet" / "config.json").read_text())["in_channels"] == INPAINTING.value
    assert sum(f.stat().st_size for f in tiny_sd.rglob("*")) < 5 << 20


def test_tiny_builder_refuses_an_unknown_variant(tmp_path):
    from autopipe_sd.tiny import build

    with pytest.raises(ValueError, match="no tiny variant"):
        build(tmp_path / "x", "refiner")


def test_tokenizer_is_built_in_memory_and_truncates_at_77():
    from autopipe_core.toolkit.tokenizers import clip_characters as clip_tokenizer

    tok = clip_tokenizer()
    ids = tok("a photo of an astronaut " * 20, truncation=True, max_length=tok.model_max_length).input_ids
    assert tok.model_max_length == 77 and len(ids) == 77


def test_component_dtypes_become_diffusers_per_component_dtype():
    p = LoadPlan("float16", None, "device", "cuda", "", component_dtypes={"vae": "float32"})
    assert loading.load_kwargs(p, {})[loading.dtype_keyword()] == {"default": torch.float16, "vae": torch.float32}
    with pytest.raises(ValueError, match="dtype"):
        LoadPlan("float16", None, "device", "cuda", "", component_dtypes={"vae": "float64"})
