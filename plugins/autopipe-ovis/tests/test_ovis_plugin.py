"""autopipe-ovis against diffusers' own tables and sources: the rows, the refusals, no single files, the plans and the tiny checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

import autopipe_ovis as ovis
from autopipe_core import AutoPipelineForText2Image, DeviceFacts, GiB, Identity, Task, resolve
from autopipe_core.planning import plan as plan_placement
from autopipe_core import testing as kit
from autopipe_ovis import tiny
from autopipe_ovis.loading import ALLOWANCE, NO_FLOAT16, plan

BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
BF16_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.bf16.safetensors", "text_encoder/model.bf16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors")
PLAIN_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors")
#: A model_index.json as OvisImagePipeline.save_pretrained writes one, with the tokenizer named by its Fast name (diffusers' annotation).
INDEX = {
    "_class_name": "OvisImagePipeline",
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
    "text_encoder": ["transformers", "Qwen3Model"],
    "tokenizer": ["transformers", "Qwen2TokenizerFast"],
    "transformer": ["diffusers", "OvisImageTransformer2DModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


# Registration, against diffusers' own tables and classes


def test_the_family_and_its_rows_are_registered_alone():
    kit.check_registered_alone("autopipe-ovis", {ovis.OVIS})


def test_every_row_of_diffusers_tables_for_ovis_is_served_with_diffusers_class():
    served = kit.check_rows_serve_diffusers({"ovis": ovis.OVIS}, naming="ovis")
    assert served == {"ovis": {Task.TEXT2IMG: "OvisImagePipeline"}}  # diffusers 0.42.1 has no other key for Ovis-Image


def test_diffusers_has_no_other_pipeline_for_ovis_transformer():
    """No image-to-image, inpainting, PAG or ControlNet class takes OvisImageTransformer2DModel: the refusals are true.

    When this fails, diffusers has added one: serve it.
    """
    assert kit.pipelines_taking("OvisImageTransformer2DModel") == {"OvisImagePipeline"}


def test_the_classes_the_refusals_name_exist():
    kit.check_named_pipelines_exist(ovis.NO_IMG2IMG, ovis.NO_INPAINT)


def test_a_saved_ovis_folder_resolves_as_diffusers_does(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps(INDEX))
    resolution = resolve(tmp_path, Task.TEXT2IMG)
    assert (resolution.family, resolution.pipeline_class) == (ovis.OVIS, "OvisImagePipeline")


@pytest.mark.parametrize("task, words", [
    (Task.IMG2IMG, "FluxImg2ImgPipeline, autopipe-flux"),
    (Task.INPAINT, "FluxFillPipeline, autopipe-flux"),
])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny_checkpoint, task, words):
    kit.check_refused(tiny_checkpoint(ovis.OVIS), task, words, "use AutoPipelineForText2Image")


def test_pag_and_controlnet_are_refused_with_why(tiny_checkpoint):
    kit.check_no_pag_or_controlnet(tiny_checkpoint(ovis.OVIS), "Ovis-Image")


def test_diffusers_knows_no_ovis_single_file_so_none_is_claimed(tmp_path):
    """No key in CHECKPOINT_KEY_NAMES, no from_single_file on the pipeline, the transformer's refuses: so no autopipe_detect."""
    from diffusers import OvisImageTransformer2DModel

    kit.check_no_diffusers_single_file("ovis", classes=["OvisImagePipeline"], plugin=ovis)
    with pytest.raises(ValueError, match="only compatible with"):
        OvisImageTransformer2DModel.from_single_file(str(tmp_path / "transformer.safetensors"))


# Loading code: bfloat16 where the device has it, float32 elsewhere


def _identity(files=BF16_FILES) -> Identity:
    return Identity("folder", "x", "OvisImagePipeline", files=files)


def test_bfloat16_from_bf16_files_where_the_device_has_it_float32_elsewhere_never_float16():
    plans = kit.check_bfloat16_plan(plan, _identity(PLAIN_FILES), _identity())
    assert "37 GB of RAM" in plans.cpu.reason
    assert NO_FLOAT16 in plans.without_bf16.reason and "cuda has no bfloat16" in plans.without_bf16.reason


def test_no_component_keeps_float32_modules():
    """The header counts are the loaded bytes: neither Qwen3 nor Ovis-Image's transformer or VAE keeps modules in float32."""
    from diffusers import AutoencoderKL, OvisImageTransformer2DModel
    from transformers import Qwen3Model

    assert not Qwen3Model._keep_in_fp32_modules
    assert not getattr(OvisImageTransformer2DModel, "_keep_in_fp32_modules", None)
    assert not getattr(AutoencoderKL, "_keep_in_fp32_modules", None)
    assert not ALLOWANCE.float32_modules


def test_the_allowance_is_stated_at_1024_and_scales_with_the_pixels_and_the_dtype():
    bf16 = plan(_identity(), BF16_GPU)
    native = ALLOWANCE.activation(_identity(), bf16)
    assert (native.width, native.height, native.nbytes) == (1024, 1024, 2 * GiB)
    assert ALLOWANCE.nbytes(2048, 2048, "bfloat16") == GiB // 2 + 4 * (3 * GiB // 2)
    assert ALLOWANCE.nbytes(1024, 1024, "float32") == GiB // 2 + 3 * GiB


def test_the_tiny_checkpoint_is_planned_at_exactly_its_loaded_bytes(tiny_checkpoint):
    path = tiny_checkpoint(ovis.OVIS)
    placed = plan_placement(resolve(path, Task.TEXT2IMG), BF16_GPU)
    assert placed.plan.dtype == "bfloat16" and placed.footprint.activation.nbytes == 2 * GiB
    pipe = AutoPipelineForText2Image.from_pretrained(path, torch_dtype=torch.bfloat16)
    kit.check_counted_as_loaded(placed.footprint, pipe, ("text_encoder", "vae", "transformer"))


# The tiny checkpoint


def test_the_tiny_builder_refuses_variants_and_other_families(tmp_path):
    with pytest.raises(ValueError):
        tiny.build(ovis.OVIS, tmp_path / "x", variant="fp16")
    with pytest.raises(ValueError, match="builds no tiny 'flux'"):
        tiny.pipeline("flux")


def test_the_tiny_tokenizer_writes_qwens_chat_turns_without_thinking():
    """OvisImagePipeline's template call: each prompt as a user turn, the assistant's turn opened, an empty thinking block."""
    tok = tiny.tokenizer()
    text = tok.apply_chat_template([{"role": "user", "content": "a fox"}], tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert text == "<|im_start|>user\na fox<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    ids = tok(text, add_special_tokens=False).input_ids
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>") and tok.convert_tokens_to_ids("<think>") in ids
    assert type(tok).__name__ == "Qwen2Tokenizer" and tok.pad_token == "<|endoftext|>"


def test_the_tiny_checkpoint_saves_the_classes_diffusers_names(tiny_checkpoint):
    index = json.loads((tiny_checkpoint(ovis.OVIS) / "model_index.json").read_text())
    assert index["_class_name"] == "OvisImagePipeline"
    assert index["text_encoder"] == ["transformers", "Qwen3Model"] and index["tokenizer"][1] in ("Qwen2Tokenizer", "Qwen2TokenizerFast")
    assert index["transformer"] == ["diffusers", "OvisImageTransformer2DModel"] and index["vae"] == ["diffusers", "AutoencoderKL"]


def test_the_tiny_checkpoint_draws_at_the_pipelines_default_size_and_guidance_changes_the_image(tiny_checkpoint):
    """No size: 128 latents a side x the tiny VAE's 2 = 256 px. guidance_scale 1 skips the negative pass; 5 (the default) takes it."""
    import numpy as np

    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(ovis.OVIS))
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a red fox", num_inference_steps=1).images[0].size == (256, 256)
    call = dict(num_inference_steps=2, height=64, width=64)
    guided = pipe("a red fox", generator=torch.Generator().manual_seed(0), **call).images[0]
    plain = pipe("a red fox", guidance_scale=1.0, generator=torch.Generator().manual_seed(0), **call).images[0]
    assert not np.array_equal(np.asarray(guided), np.asarray(plain))
