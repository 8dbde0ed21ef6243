"""autopipe-lcm's own pieces: the refusal of inpainting, the real checkpoint's resolution against diffusers', the guidance
embedding through from_pipe, the loading code and its allowance, the tiny builder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DeviceFacts,
    GiB,
    Identity,
    UnsupportedTaskError,
    planning,
    resolve,
)
from autopipe_lcm import FAMILY, NO_INPAINT
from autopipe_lcm.loading import ACTIVATION_AT_NATIVE, FIXED, REFERENCE, plan
from autopipe_lcm.tiny import TIME_COND_PROJ_DIM, build

ROOMY_GPU = DeviceFacts("cuda", 1, 20 * GiB, 24 * GiB, True)
FP16_FILES = ("model_index.json", "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.safetensors")
FP32_FILES = ("model_index.json", "unet/diffusion_pytorch_model.safetensors")
#: The corpus of real checkpoints' JSON files (not part of the repository; read in place, never copied).
CORPUS = Path(os.environ.get("AUTOPIPE_REAL_CONFIGS") or Path(__file__).resolve().parents[3].parent / "shared" / "real_configs")
DREAMSHAPER = CORPUS / "lcm-dreamshaper-v7"
needs_corpus = pytest.mark.skipif(not (DREAMSHAPER / "model_index.json").is_file(), reason=f"the real-checkpoint corpus is absent ({CORPUS})")


def _identity(files, class_name="LatentConsistencyModelPipeline", unet=None):
    return Identity("folder", "x", class_name, configs={"unet": unet} if unet else {}, files=files)


# -- resolution ----------------------------------------------------------------------------------------------------------


def test_the_tiny_checkpoint_is_an_lcm(tiny_lcm):
    assert json.loads((tiny_lcm / "model_index.json").read_text())["_class_name"] == "LatentConsistencyModelPipeline"
    assert json.loads((tiny_lcm / "unet" / "config.json").read_text())["time_cond_proj_dim"] == TIME_COND_PROJ_DIM
    assert json.loads((tiny_lcm / "scheduler" / "scheduler_config.json").read_text())["_class_name"] == "LCMScheduler"


def test_inpaint_is_refused_before_any_weight_is_read_with_what_to_use(tmp_path):
    # A folder with model_index.json alone: resolution reads JSON only, so the refusal comes before any weight.
    folder = tmp_path / "lcm"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "LatentConsistencyModelPipeline"}))
    with pytest.raises(UnsupportedTaskError) as refusal:
        AutoPipelineForInpainting.from_pretrained(folder)
    said = str(refusal.value)
    assert isinstance(refusal.value, ValueError)  # what a diffusers user catches
    assert NO_INPAINT in said and "pip install ./plugins/autopipe-sd" in said and "lcm-lora-sdv1-5" in said
    assert "AutoPipelineForText2Image" in said and "AutoPipelineForImage2Image" in said


@needs_corpus
@pytest.mark.parametrize("task", ["text2img", "img2img", "inpaint"])
def test_lcm_dreamshaper_v7_resolves_as_diffusers_does(task):
    """Its real model_index.json and UNet config: the class diffusers' AutoPipeline tables give, and a refusal where they give none."""
    from diffusers.pipelines import auto_pipeline

    mapping = {
        "text2img": auto_pipeline.AUTO_TEXT2IMAGE_PIPELINES_MAPPING,
        "img2img": auto_pipeline.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING,
        "inpaint": auto_pipeline.AUTO_INPAINT_PIPELINES_MAPPING,
    }[task]
    class_name = json.loads((DREAMSHAPER / "model_index.json").read_text())["_class_name"]
    theirs = auto_pipeline._get_task_class(mapping, class_name, throw_error_if_not_exist=False)
    if theirs is None:
        with pytest.raises(UnsupportedTaskError, match="no inpaint pipeline"):
            resolve(DREAMSHAPER, task)
        assert task == "inpaint"
        return
    ours = resolve(DREAMSHAPER, task)
    assert (ours.family, ours.plugin, ours.pipeline_class) == (FAMILY, "autopipe-lcm", theirs.__name__)


# -- the pipelines ---------------------------------------------------------------------------------------------------------


def _call(pipe, guidance_scale, **kwargs):
    pipe.set_progress_bar_config(disable=True)
    out = pipe("a red fox", num_inference_steps=2, guidance_scale=guidance_scale, generator=torch.Generator().manual_seed(0), output_type="np", **kwargs)
    return out.images[0]


def test_img2img_and_back_share_the_scheduler_and_the_guidance_embedding(tiny_lcm):
    t2i = AutoPipelineForText2Image.from_pretrained(tiny_lcm)
    i2i = AutoPipelineForImage2Image.from_pipe(t2i)
    assert type(i2i).__name__ == "LatentConsistencyModelImg2ImgPipeline"
    assert i2i.scheduler is t2i.scheduler and type(t2i.scheduler).__name__ == "LCMScheduler"
    assert i2i.unet is t2i.unet and i2i.unet.time_embedding.cond_proj.in_features == TIME_COND_PROJ_DIM
    back = AutoPipelineForText2Image.from_pipe(i2i)
    assert type(back).__name__ == "LatentConsistencyModelPipeline" and back.config.requires_safety_checker is False


def test_the_guidance_scale_reaches_the_unet_as_an_embedding(tiny_lcm):
    """Same seed, another guidance scale: another image, in one batch (no classifier-free guidance doubles it)."""
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_lcm)
    batches = []
    hook = pipe.unet.register_forward_pre_hook(lambda module, args, kwargs: batches.append(args[0].shape[0]), with_kwargs=True)
    try:
        low, high = _call(pipe, 1.5), _call(pipe, 8.0)
    finally:
        hook.remove()
    assert low.shape == high.shape == (64, 64, 3)
    assert not np.allclose(low, high)
    assert batches == [1, 1, 1, 1]  # two steps of each call, each at batch 1
    assert np.allclose(_call(pipe, 8.0), high)  # and the same scale gives the same image


def test_autopipe_demo_runs_text2img_and_img2img_and_says_why_not_inpaint(tmp_path, capsys):
    from PIL import Image

    from autopipe_core.cli import main

    assert main(["demo", "--family", FAMILY, "--out-dir", str(tmp_path), "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "text2img: LatentConsistencyModelPipeline" in out and "img2img:  LatentConsistencyModelImg2ImgPipeline" in out
    assert "inpaint: skipped: latent-consistency has no inpaint pipeline" in out and "weights shared across text2img and img2img: yes" in out
    assert "autopipe demo --model SimianLuo/LCM_Dreamshaper_v7" in out  # the family's real checkpoint, for the next try
    assert [Image.open(tmp_path / n).size for n in ("text2img.png", "img2img.png")] == [(64, 64), (64, 64)]
    assert not (tmp_path / "inpaint.png").exists()


# -- loading -------------------------------------------------------------------------------------------------------------


def test_cpu_loads_float32_from_the_plain_files():
    p = plan(_identity(FP16_FILES), DeviceFacts("cpu"))
    assert (p.dtype, p.variant, p.placement, p.device) == ("float32", None, "device", "cpu")


def test_an_accelerator_loads_float16_from_the_fp16_files_when_there_are_some():
    p = plan(_identity(FP16_FILES), ROOMY_GPU)
    assert (p.dtype, p.variant, p.placement, p.device, p.component_dtypes) == ("float16", "fp16", "device", "cuda", {})
    assert "fp16 weight files" in p.reason
    full = plan(_identity(FP32_FILES), DeviceFacts("mps", 1, 8 * GiB, 16 * GiB))
    assert (full.dtype, full.variant, full.device) == ("float16", None, "mps") and "no fp16 variant" in full.reason


def test_the_allowance_is_at_the_native_size_unless_the_call_says(tiny_lcm):
    dreamshaper = {"_class_name": "UNet2DConditionModel", "sample_size": 96, "time_cond_proj_dim": 256}
    from autopipe_lcm.loading import ALLOWANCE

    half = plan(_identity(FP16_FILES, unet=dreamshaper), ROOMY_GPU)
    native = ALLOWANCE.activation(_identity(FP16_FILES, unet=dreamshaper), half)
    assert (native.width, native.height, native.nbytes) == (REFERENCE, REFERENCE, ACTIVATION_AT_NATIVE + FIXED)
    assert "at batch 1" in native.reason and "768x768 in float16" in native.reason
    at_512 = ALLOWANCE.activation(_identity(FP16_FILES, unet=dreamshaper), half, 512, 512)
    assert at_512.nbytes == FIXED + GiB  # 512x512 is 4/9 of the pixels of 768x768
    # the tiny checkpoint, planned whole: its UNet's sample_size 32 makes its native side 256
    placed = planning.plan(resolve(tiny_lcm, "text2img"), ROOMY_GPU)
    assert (placed.footprint.activation.width, placed.plan.placement, placed.plan.dtype) == (256, "device", "float16")


def test_a_small_gpu_gets_offloading_planned_by_the_core(tiny_lcm):
    r = resolve(tiny_lcm, "text2img")
    assert planning.plan(r, DeviceFacts("cuda", 1, GiB // 2, 4 * GiB)).plan.placement == "sequential_cpu_offload"


# -- the tiny builder ----------------------------------------------------------------------------------------------------


def test_tiny_builder_refuses_variants_and_is_deterministic(tmp_path):
    with pytest.raises(ValueError, match="latent-consistency has no tiny variant 'inpainting-only'"):
        build(tmp_path / "x", "inpainting-only")
    first, second = build(tmp_path / "a"), build(tmp_path / "b")
    name = "unet/diffusion_pytorch_model.safetensors"
    assert (first / name).read_bytes() == (second / name).read_bytes()
