"""autopipe-krea2's registration against diffusers' own tables and sources, refusals, the plans, and what from_pipe carries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import autopipe_krea2 as krea2
from autopipe_core import AutoPipelineForText2Image, DeviceFacts, GiB, Identity, Task, resolve
from autopipe_core.planning import plan as plan_placement
from autopipe_core.switch import live_state, signature
from autopipe_core import testing as kit
from autopipe_krea2.loading import ALLOWANCE, TRANSFORMER_KEEP_FLOAT32, plan

BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
BF16_FILES = (
    "model_index.json", "transformer/diffusion_pytorch_model.bf16.safetensors", "transformer/diffusion_pytorch_model.safetensors",
    "text_encoder/model.bf16.safetensors", "text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors",
)
PLAIN_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors")
SMALL = {"height": 64, "width": 64, "max_sequence_length": 32}


# Registration, against diffusers' own tables and classes


def test_the_family_and_its_rows_are_registered_alone():
    kit.check_registered_alone("autopipe-krea2", {krea2.KREA2})


def test_every_row_of_diffusers_tables_for_krea2_is_served_with_diffusers_class():
    served = kit.check_rows_serve_diffusers({"krea2": krea2.KREA2}, naming="krea")
    assert served == {"krea2": {Task.TEXT2IMG: "Krea2Pipeline"}}  # diffusers 0.42.1 has no other key for Krea


def test_diffusers_has_no_other_pipeline_for_krea2s_transformer():
    """No other pipeline class takes Krea2Transformer2DModel: the refusals are true.

    Read from diffusers' pipeline sources with ast (nothing imported). When this fails, diffusers has added one: serve it.
    """
    assert kit.pipelines_taking("Krea2Transformer2DModel") == {"Krea2Pipeline"}


def test_a_krea2_index_resolves_from_its_json_alone(tmp_path):
    index = json.loads((Path(krea2.__file__).parent / "configs" / "krea2" / "model_index.json").read_text())
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    resolution = resolve(tmp_path, Task.TEXT2IMG)
    assert (resolution.family, resolution.pipeline_class) == (krea2.KREA2, "Krea2Pipeline")


@pytest.mark.parametrize("task, words", [
    (Task.IMG2IMG, "QwenImageImg2ImgPipeline, autopipe-qwenimage"),
    (Task.INPAINT, "QwenImageInpaintPipeline, autopipe-qwenimage"),
])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny_checkpoint, task, words):
    kit.check_refused(tiny_checkpoint(krea2.KREA2), task, words, "use AutoPipelineForText2Image")


def test_pag_and_controlnet_are_refused_with_why(tiny_checkpoint):
    kit.check_no_pag_or_controlnet(tiny_checkpoint(krea2.KREA2), "Krea 2")


# Loading code: bfloat16 where the device has it, float32 elsewhere, the transformer's float32 norms counted


def _identity(files=BF16_FILES) -> Identity:
    return Identity("folder", "x", "Krea2Pipeline", files=files)


def test_bfloat16_from_bf16_files_where_the_device_has_it_float32_on_a_cpu_and_on_a_gpu_without_it():
    plans = kit.check_bfloat16_plan(plan, _identity(PLAIN_FILES), _identity(), float32=_identity())  # both kinds of files
    assert "not float16" in plans.without_bf16.reason and "cuda has no bfloat16" in plans.without_bf16.reason


def test_the_allowance_is_stated_at_krea2pipelines_default_1024():
    activation = ALLOWANCE.activation(_identity(), plan(_identity(), BF16_GPU))
    assert (activation.width, activation.height, activation.nbytes) == (1024, 1024, 5 * GiB)


def test_diffusers_still_keeps_the_norms_the_footprint_counts_in_float32():
    from diffusers import Krea2Transformer2DModel

    assert tuple(Krea2Transformer2DModel._keep_in_fp32_modules) == TRANSFORMER_KEEP_FLOAT32


def test_the_footprint_counts_the_transformer_as_bfloat16_loading_gives_it(tiny_checkpoint):
    path = tiny_checkpoint(krea2.KREA2)
    placed = plan_placement(resolve(path, Task.TEXT2IMG), BF16_GPU)
    assert placed.plan.dtype == "bfloat16"
    pipe = AutoPipelineForText2Image.from_pretrained(path, torch_dtype=torch.bfloat16)
    held = {n: p.dtype for n, p in pipe.transformer.named_parameters()}
    assert {d for n, d in held.items() if n.endswith(("norm1.weight", "norm_q.weight"))} == {torch.float32}
    assert held["img_in.weight"] == torch.bfloat16
    kit.check_counted_as_loaded(placed.footprint, pipe, ("text_encoder", "vae", "transformer"))
    assert "kept in float32" in placed.footprint.component("transformer").source


# The pipeline's own constructor values, and what from_pipe carries


def test_the_constructor_values_are_config_entries_so_from_pipe_carries_them_with_no_reader(tiny_checkpoint):
    from diffusers import Krea2Pipeline

    assert signature(Krea2Pipeline)[2] == {"text_encoder_select_layers", "is_distilled", "patch_size"}
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(krea2.KREA2), is_distilled=True, text_encoder_select_layers=(0, 2))
    assert live_state(pipe) == {}  # nothing kept outside the config: FamilySpec.init_readers has nothing to read
    again = AutoPipelineForText2Image.from_pipe(pipe)
    assert again is not pipe and again.transformer is pipe.transformer
    assert (again.config.is_distilled, tuple(again.config.text_encoder_select_layers), again.config.patch_size) == (True, (0, 2), 2)
    assert again.text_encoder_select_layers == (0, 2)
    again.set_progress_bar_config(disable=True)
    assert again("a red fox", num_inference_steps=2, guidance_scale=0.0, **SMALL).images[0].size == (64, 64)


def test_the_tiny_checkpoint_takes_krea2s_default_prompt_length_and_guidance(tiny_checkpoint):
    """Krea2Pipeline pads every prompt to 512 tokens after its 34-token template and guides by default: the tiny one runs that."""
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(krea2.KREA2))
    pipe.set_progress_bar_config(disable=True)
    embeds, mask = pipe.encode_prompt("a red fox")
    assert embeds.shape[:3] == (1, mask.shape[1], 2) and mask.shape[1] > 512 and mask.sum() < 512
    assert pipe("a red fox", num_inference_steps=2, height=64, width=64).images[0].size == (64, 64)


@pytest.mark.slow
def test_the_tiny_checkpoint_draws_at_krea2s_default_size(tiny_checkpoint):
    """Krea2Pipeline's default call is 1024x1024: about a minute on a busy CPU for the tiny checkpoint (its 4x VAE decodes 256x256 latents)."""
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(krea2.KREA2))
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a red fox", num_inference_steps=1).images[0].size == (1024, 1024)


def test_the_tiny_builder_refuses_a_variant_and_a_family_it_does_not_build(tmp_path):
    from autopipe_krea2 import tiny

    with pytest.raises(ValueError, match="krea2"):
        tiny.build(krea2.KREA2, tmp_path / "x", variant="turbo")
    with pytest.raises(ValueError, match="builds krea2"):
        tiny.pipeline("flux")
