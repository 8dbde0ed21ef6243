"""autopipe-ideogram against diffusers' own tables and sources: the rows, the refusals, no single files, the plans, the placement and the tiny checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import autopipe_ideogram as ideogram
from autopipe_core import AutoPipelineForText2Image, DeviceFacts, GiB, Identity, Task, resolve
from autopipe_core.planning import plan as plan_placement
from autopipe_core import testing as kit
from autopipe_ideogram import loading, tiny
from autopipe_ideogram.loading import ALLOWANCE, NO_FLOAT16, NO_SEQUENTIAL, plan

BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
COMPONENTS = ("transformer", "unconditional_transformer", "text_encoder", "vae")
BF16_FILES = ("model_index.json", *(f"{c}/diffusion_pytorch_model.bf16.safetensors" for c in COMPONENTS))
PLAIN_FILES = ("model_index.json", *(f"{c}/diffusion_pytorch_model.safetensors" for c in COMPONENTS))
#: The tiny checkpoint's calls: 64x64 over 64 text tokens, a constant guidance scale (the kit's, tests/test_ideogram_conformance.py).
SMALL = dict(height=64, width=64, max_sequence_length=64)
CALL = dict(num_inference_steps=2, guidance_scale=4.0, guidance_schedule=None, **SMALL)


@pytest.fixture(scope="module")
def tiny_path(tiny_checkpoint):
    return tiny_checkpoint(ideogram.IDEOGRAM4)


# Registration, against diffusers' own tables and classes


def test_the_family_and_its_row_are_registered_alone():
    kit.check_registered_alone("autopipe-ideogram", {ideogram.IDEOGRAM4})


def test_every_row_of_diffusers_tables_for_ideogram_is_served_with_diffusers_class():
    served = kit.check_rows_serve_diffusers({"ideogram4": ideogram.IDEOGRAM4}, naming="ideogram")
    assert served == {"ideogram4": {Task.TEXT2IMG: "Ideogram4Pipeline"}}  # diffusers 0.42.1 has no other key for Ideogram


def test_diffusers_has_no_other_pipeline_for_the_ideogram_transformer():
    """Only Ideogram4Pipeline takes Ideogram4Transformer2DModel: no image-to-image, inpainting, PAG or ControlNet one. When this fails, serve it."""
    assert kit.pipelines_taking("Ideogram4Transformer2DModel") == {"Ideogram4Pipeline"}


def test_the_classes_the_refusals_name_exist():
    kit.check_named_pipelines_exist(ideogram.NO_IMG2IMG, ideogram.NO_INPAINT)


@pytest.mark.parametrize("task, words", [
    (Task.IMG2IMG, "Flux2Pipeline, autopipe-flux2"),
    (Task.INPAINT, "FluxFillPipeline, autopipe-flux"),
])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny_path, task, words):
    kit.check_refused(tiny_path, task, words, "use AutoPipelineForText2Image")


def test_pag_and_controlnet_are_refused_with_why(tiny_path):
    kit.check_no_pag_or_controlnet(tiny_path, "Ideogram 4")


def test_diffusers_knows_no_ideogram_single_file_so_none_is_claimed():
    """No Ideogram key, no from_single_file on the pipeline, and its transformer is not a single-file-loadable class."""
    kit.check_no_diffusers_single_file("ideogram", classes=["Ideogram4Pipeline"], models=["Ideogram4Transformer2DModel"], plugin=ideogram)


# Loading code: bfloat16 where the device has it, float32 elsewhere; never sequential offload


def _identity(files=BF16_FILES) -> Identity:
    return Identity("folder", "x", "Ideogram4Pipeline", files=files)


def test_bfloat16_from_bf16_files_where_the_device_has_it_float32_elsewhere_never_float16_saying_the_ram_it_takes():
    plans = kit.check_bfloat16_plan(plan, _identity(PLAIN_FILES), _identity())
    assert "107 GB of RAM" in plans.cpu.reason
    assert NO_FLOAT16 in plans.without_bf16.reason and "cuda has no bfloat16" in plans.without_bf16.reason


def test_no_component_keeps_float32_modules():
    """The header counts are the loaded bytes: neither the text encoder, the transformers nor the VAE keep float32 modules."""
    from diffusers import AutoencoderKLFlux2, Ideogram4Transformer2DModel
    from transformers import Qwen3VLModel

    for cls in (Qwen3VLModel, Ideogram4Transformer2DModel, AutoencoderKLFlux2):
        assert not getattr(cls, "_keep_in_fp32_modules", None), cls.__name__
    assert not ALLOWANCE.float32_modules


def test_the_allowance_is_stated_at_the_pipelines_default_side_and_grows_with_the_pixels():
    from diffusers.pipelines.ideogram4.pipeline_ideogram4 import Ideogram4Pipeline, QWEN3_VL_ACTIVATION_LAYERS
    import inspect

    defaults = inspect.signature(Ideogram4Pipeline.__call__).parameters
    assert defaults["height"].default == defaults["width"].default == loading.NATIVE == 2048
    assert defaults["max_sequence_length"].default == loading.TEXT_TOKENS
    from diffusers import Ideogram4Transformer2DModel

    assert inspect.signature(Ideogram4Transformer2DModel.__init__).parameters["llm_features_dim"].default == loading.FEATURES == 13 * 4096
    assert len(QWEN3_VL_ACTIVATION_LAYERS) == tiny.TAPPED and max(QWEN3_VL_ACTIVATION_LAYERS) + 1 == tiny.TEXT_LAYERS
    at = ALLOWANCE.activation(_identity(), plan(_identity(), BF16_GPU))
    assert (at.width, at.nbytes) == (2048, 13 * GiB + loading.FIXED) and 1.7 * GiB < loading.FIXED < 1.75 * GiB
    assert ALLOWANCE.nbytes(1024, 1024, "bfloat16") == 13 * GiB // 4 + loading.FIXED


def test_the_tiny_checkpoint_is_planned_at_exactly_its_loaded_bytes(tiny_path):
    placed = plan_placement(resolve(tiny_path, Task.TEXT2IMG), BF16_GPU)
    assert (placed.plan.dtype, placed.plan.placement) == ("bfloat16", "device")
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_path, torch_dtype=torch.bfloat16)
    # the state dict: the VAE's batch-norm statistics are buffers, saved and counted as its weights are
    kit.check_counted_as_loaded(placed.footprint, pipe, COMPONENTS, state_dict=True)


def test_where_the_rules_would_stream_layers_the_plan_is_model_offload_saying_why(tiny_path):
    """On a GPU smaller than the 2048x2048 allowance the rules choose sequential offload, which this pipeline cannot run."""
    small = DeviceFacts("cuda", 1, 8 * GiB, 8 * GiB, True)
    placed = plan_placement(resolve(tiny_path, Task.TEXT2IMG), small)
    assert placed.rule == "sequential_cpu_offload" and placed.overridden_by == "autopipe-ideogram"
    assert placed.plan.placement == "model_cpu_offload" and NO_SEQUENTIAL in placed.plan.reason
    at_256 = plan_placement(resolve(tiny_path, Task.TEXT2IMG), small, 256, 256)
    assert at_256.plan.placement == "device" and at_256.overridden_by is None  # the allowance at 256x256 fits: no override


def test_the_full_size_parameter_counts_the_docs_give():
    """diffusers' default Ideogram4Transformer2DModel and Qwen3-VL-8B's Qwen3VLModel, counted on the meta device (no weights)."""
    from accelerate import init_empty_weights
    from diffusers import Ideogram4Transformer2DModel
    from transformers import Qwen3VLConfig, Qwen3VLModel

    with init_empty_weights():
        transformer = Ideogram4Transformer2DModel()
        text = Qwen3VLModel(Qwen3VLConfig(
            text_config=dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8,
                             head_dim=128, vocab_size=151936, tie_word_embeddings=False),
            vision_config=dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16, out_hidden_size=4096, patch_size=16,
                               deepstack_visual_indexes=[8, 16, 24]),
        ))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(transformer) == 9_279_288_448 and count(text) == 8_144_793_840
    assert round((2 * count(transformer) + count(text)) * 4 / 1e9) == 107  # the CPU plan's float32 RAM


# The tiny checkpoint and what Ideogram4Pipeline does


def test_the_tiny_builder_refuses_variants_and_other_families(tmp_path):
    with pytest.raises(ValueError):
        tiny.build(ideogram.IDEOGRAM4, tmp_path / "x", variant="bf16")
    with pytest.raises(ValueError, match="builds no tiny 'flux'"):
        tiny.pipeline("flux")


def test_the_tiny_checkpoint_has_the_real_ones_components(tiny_path):
    index = json.loads((tiny_path / "model_index.json").read_text())
    assert index["text_encoder"] == ["transformers", "Qwen3VLModel"] and index["vae"] == ["diffusers", "AutoencoderKLFlux2"]
    assert index["transformer"] == index["unconditional_transformer"] == ["diffusers", "Ideogram4Transformer2DModel"]
    assert index["prompt_enhancer_head"] == [None, None]
    text = json.loads((tiny_path / "text_encoder" / "config.json").read_text())
    assert text["text_config"]["num_hidden_layers"] == tiny.TEXT_LAYERS


def test_a_call_of_other_than_48_steps_needs_a_constant_guidance_scale(tiny_path):
    """Ideogram4Pipeline's default guidance schedule has 48 entries: diffusers refuses another step count without guidance_scale."""
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_path)
    pipe.set_progress_bar_config(disable=True)
    with pytest.raises(ValueError, match="`guidance_schedule` must have length `num_inference_steps` \\(2\\), got 48"):
        pipe("a red fox", num_inference_steps=2, **SMALL)
    assert pipe("a red fox", num_inference_steps=48, **SMALL).images[0].size == (64, 64)  # the default schedule
    image = pipe("a red fox", output_type="np", **CALL).images[0]
    assert image.shape == (64, 64, 3)
    assert pipe("a red fox", num_inference_steps=1, guidance_scale=4.0, guidance_schedule=None, height=32, width=64,
                max_sequence_length=64).images[0].size == (64, 32)


def test_the_conditional_and_unconditional_transformers_are_two_models(tiny_path):
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_path)
    assert pipe.transformer is not pipe.unconditional_transformer
    assert not torch.equal(pipe.transformer.input_proj.weight, pipe.unconditional_transformer.input_proj.weight)


def test_prompt_upsampling_is_refused_without_the_head_saying_how_to_pass_one(tiny_path):
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_path)
    with pytest.raises(ValueError, match="requires the `prompt_enhancer_head` component"):
        pipe("a red fox", prompt_upsampling=True, **CALL)


@pytest.mark.slow
def test_a_passed_prompt_enhancer_head_rewrites_the_prompt(tiny_path):
    """With a head passed (as diffusers' refusal says), upsample_prompt generates: about 8 s, over Ideogram's long system message."""
    head = tiny.prompt_enhancer_head(len(tiny.tokenizer()))
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_path, prompt_enhancer_head=head)
    assert pipe.prompt_enhancer_head is head
    captions = pipe.upsample_prompt("a red fox", height=64, width=64, max_new_tokens=3, generator=torch.Generator().manual_seed(0))
    assert len(captions) == 1 and isinstance(captions[0], str)


def test_the_cli_demo_of_the_tiny_checkpoint_runs_at_2_steps(tmp_path):
    """`autopipe demo --family ideogram4 --steps 2`: the family's tiny_call guides at a constant scale, without which
    the default 48-entry guidance schedule fails any other step count (the test above)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AUTOPIPE_")}, "AUTOPIPE_PLUGINS": "autopipe-ideogram",
           "AUTOPIPE_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-m", "autopipe_core.cli", "demo", "--family", ideogram.IDEOGRAM4, "--steps", "2",
                          "--out-dir", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0 and (tmp_path / "out" / "text2img.png").exists(), out.stdout[-2000:] + out.stderr[-2000:]
    assert "img2img: skipped" in out.stdout and "Flux2Pipeline" in out.stdout
