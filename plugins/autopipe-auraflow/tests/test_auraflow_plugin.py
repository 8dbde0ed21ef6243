"""autopipe-auraflow's registration against diffusers' own tables and sources, refusals, the float16 plan and what it keeps in float32."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import autopipe_auraflow as auraflow
from autopipe_auraflow.loading import SAME_DTYPE_VAE, UPCAST_VAE, plan
from autopipe_core import AutoPipelineForText2Image, DeviceFacts, GiB, Identity, Task, resolve
from autopipe_core.planning import plan as plan_placement
from autopipe_core import testing as kit

BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
#: fal/AuraFlow's files since "Add fp16 variants to speedup loading and relax memory constraints": float32 and fp16 side by side.
FAL_FILES = (
    "model_index.json",
    "transformer/diffusion_pytorch_model-00001-of-00003.safetensors", "transformer/diffusion_pytorch_model-00001-of-00002.fp16.safetensors",
    "text_encoder/model.safetensors", "text_encoder/model.fp16.safetensors",
    "vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors",
)
PLAIN_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors")
#: fal/AuraFlow-v0.3's model_index.json (the keys that matter).
FAL_INDEX = {
    "_class_name": "AuraFlowPipeline",
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "LlamaTokenizerFast"],
    "transformer": ["diffusers", "AuraFlowTransformer2DModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


# Registration, against diffusers' own tables and classes


def test_the_family_and_its_rows_are_registered_alone():
    kit.check_registered_alone("autopipe-auraflow", {auraflow.AURAFLOW})


def test_every_row_of_diffusers_tables_for_auraflow_is_served_with_diffusers_class():
    served = kit.check_rows_serve_diffusers({"auraflow": auraflow.AURAFLOW}, naming="aura")
    assert served == {"auraflow": {Task.TEXT2IMG: "AuraFlowPipeline"}}  # diffusers 0.42.1 has no other key for AuraFlow


def test_diffusers_has_no_other_pipeline_for_auraflows_transformer():
    """No image-to-image, inpainting, PAG or ControlNet class takes AuraFlowTransformer2DModel: the refusals are true.

    Read from diffusers' pipeline sources with ast (nothing imported). When this fails, diffusers has added one: serve it.
    """
    assert kit.pipelines_taking("AuraFlowTransformer2DModel") == {"AuraFlowPipeline"}


def test_fals_repositories_resolve_as_diffusers_does_and_the_plan_reads_their_vae(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps(FAL_INDEX))
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL", "scaling_factor": 0.13025, "force_upcast": True}))
    resolution = resolve(tmp_path, Task.TEXT2IMG)
    assert (resolution.family, resolution.pipeline_class) == (auraflow.AURAFLOW, "AuraFlowPipeline")
    assert resolution.identity.configs["vae"]["force_upcast"] is True


@pytest.mark.parametrize("task, words", [
    (Task.IMG2IMG, "StableDiffusion3Img2ImgPipeline, autopipe-sd3"),
    (Task.INPAINT, "StableDiffusion3InpaintPipeline, autopipe-sd3"),
])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny_checkpoint, task, words):
    kit.check_refused(tiny_checkpoint(auraflow.AURAFLOW), task, words, "use AutoPipelineForText2Image")


def test_pag_and_controlnet_are_refused_with_why(tiny_checkpoint):
    kit.check_no_pag_or_controlnet(tiny_checkpoint(auraflow.AURAFLOW), "AuraFlow")


# Loading code: float16 as published, the VAE in float32, UMT5's float32 layers counted


def _identity(files=FAL_FILES, vae: dict | None = None) -> Identity:
    return Identity("folder", "x", "AuraFlowPipeline", files=files, configs={"vae": {"force_upcast": True} if vae is None else vae})


def test_the_plan_is_float32_on_a_cpu():
    cpu = plan(auraflow.AURAFLOW, _identity(), DeviceFacts("cpu"))
    assert (cpu.dtype, cpu.variant, dict(cpu.component_dtypes)) == ("float32", None, {})


@pytest.mark.parametrize("device", [BF16_GPU, T4], ids=["with-bfloat16", "without"])
def test_any_accelerator_loads_float16_from_fals_fp16_files_with_the_vae_in_float32(device):
    gpu = plan(auraflow.AURAFLOW, _identity(), device)
    assert (gpu.dtype, gpu.variant, dict(gpu.component_dtypes), gpu.skip) == ("float16", "fp16", {"vae": "float32"}, frozenset())
    assert "as fal publishes AuraFlow" in gpu.reason and "SDXL's VAE overflows in float16" in gpu.reason


def test_a_float16_safe_vae_stays_float16_and_plain_files_load_as_they_are():
    safe = plan(auraflow.AURAFLOW, _identity(PLAIN_FILES, vae={"force_upcast": False}), BF16_GPU)
    assert (safe.dtype, safe.variant, dict(safe.component_dtypes)) == ("float16", None, {}) and "no fp16 variant" in safe.reason
    unread = plan(auraflow.AURAFLOW, Identity("folder", "x", "AuraFlowPipeline", files=PLAIN_FILES), BF16_GPU)
    assert dict(unread.component_dtypes) == {"vae": "float32"} and "its config was not read" in unread.reason


def test_the_allowance_is_stated_at_1024_whatever_sample_size_says():
    identity = Identity("folder", "x", "AuraFlowPipeline", configs={"transformer": {"sample_size": 64}})
    upcast = UPCAST_VAE.activation(identity, plan(auraflow.AURAFLOW, _identity(), BF16_GPU))
    assert (upcast.width, upcast.height, upcast.nbytes) == (1024, 1024, 3 * GiB)
    same = SAME_DTYPE_VAE.activation(identity, plan(auraflow.AURAFLOW, _identity(vae={"force_upcast": False}), BF16_GPU))
    assert same.nbytes == 2 * GiB


def test_the_footprint_counts_the_float32_vae_and_umt5s_float32_layers_as_loading_gives_them(tiny_checkpoint):
    path = tiny_checkpoint(auraflow.AURAFLOW)
    placed = plan_placement(resolve(path, Task.TEXT2IMG), BF16_GPU)
    assert placed.plan.dtype == "float16" and dict(placed.plan.component_dtypes) == {"vae": "float32"}
    assert placed.footprint.activation.nbytes == 3 * GiB
    pipe = AutoPipelineForText2Image.from_pretrained(path, dtype={"default": torch.float16, "vae": torch.float32})
    kit.check_counted_as_loaded(placed.footprint, pipe, ("text_encoder", "vae", "transformer"))
    held = {n: p.dtype for n, p in pipe.text_encoder.named_parameters()}
    assert {d for n, d in held.items() if n.endswith("wo.weight")} == {torch.float32}
    assert "wo kept in float32" in placed.footprint.component("text_encoder").source


def test_a_float16_vae_is_moved_to_float32_by_diffusers_and_a_float32_one_is_left_alone(tiny_checkpoint):
    """Why the plan loads the VAE in float32: AuraFlowPipeline upcasts a float16 force_upcast VAE for good, with a warning."""
    path = tiny_checkpoint(auraflow.AURAFLOW)
    call = dict(num_inference_steps=2, height=64, width=64)
    half = AutoPipelineForText2Image.from_pretrained(path, dtype={"default": torch.float32, "vae": torch.float16})
    half.set_progress_bar_config(disable=True)
    with pytest.warns(FutureWarning, match="upcast_vae"):
        half("a red fox", **call)
    assert half.vae.dtype == torch.float32
    planned = AutoPipelineForText2Image.from_pretrained(path, dtype={"default": torch.bfloat16, "vae": torch.float32})
    planned.set_progress_bar_config(disable=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        image = planned("a red fox", **call).images[0]
    assert image.size == (64, 64) and planned.vae.dtype == torch.float32 and planned.transformer.dtype == torch.bfloat16


def test_the_tiny_checkpoint_draws_at_auraflows_default_size(tiny_checkpoint):
    """AuraFlowPipeline's default call is 1024x1024: the tiny transformer has AuraFlow's 4,096 positions, so it runs."""
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(auraflow.AURAFLOW))
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a red fox", num_inference_steps=1).images[0].size == (1024, 1024)
