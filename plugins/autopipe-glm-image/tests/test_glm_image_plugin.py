"""autopipe-glm-image against diffusers' own tables and sources: the rows, the refusals (and the editing path that fails), no single files, the plans and the tiny checkpoint."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

import autopipe_glm_image as glm
from autopipe_core import AutoPipelineForText2Image, DeviceFacts, GiB, Identity, Task, resolve
from autopipe_core.planning import plan as plan_placement
from autopipe_core import testing as kit
from autopipe_glm_image import loading, tiny
from autopipe_glm_image.loading import ALLOWANCE, NO_FLOAT16, plan

BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)
BF16_FILES = ("model_index.json", "transformer/diffusion_pytorch_model.bf16.safetensors", "vision_language_encoder/model.bf16.safetensors",
              "text_encoder/model.bf16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors")
PLAIN_FILES = tuple(f.replace(".bf16", "") for f in BF16_FILES)
CALL = dict(num_inference_steps=2, height=64, width=64, max_sequence_length=16)


@pytest.fixture(scope="module")
def tiny_path(tiny_checkpoint):
    return tiny_checkpoint(glm.GLM_IMAGE)


@pytest.fixture(scope="module")
def pipe(tiny_path):
    pipeline = AutoPipelineForText2Image.from_pretrained(tiny_path)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


# Registration, against diffusers' own tables and classes


def test_the_family_and_its_row_are_registered_alone():
    kit.check_registered_alone("autopipe-glm-image", {glm.GLM_IMAGE})


def test_every_row_of_diffusers_tables_for_glm_image_is_served_with_diffusers_class():
    served = kit.check_rows_serve_diffusers({"glm_image": glm.GLM_IMAGE}, naming="glm")
    assert served == {"glm_image": {Task.TEXT2IMG: "GlmImagePipeline"}}  # diffusers 0.42.1 has no other key for GLM-Image


def test_diffusers_has_no_other_pipeline_for_the_glm_image_transformer():
    """Only GlmImagePipeline takes GlmImageTransformer2DModel: no inpainting, PAG or ControlNet class. When this fails, serve it."""
    assert kit.pipelines_taking("GlmImageTransformer2DModel") == {"GlmImagePipeline"}


def test_the_classes_the_refusals_name_exist():
    kit.check_named_pipelines_exist(glm.NO_IMG2IMG, glm.NO_INPAINT)


@pytest.mark.parametrize("task, words", [(Task.IMG2IMG, "QwenImageEditPipeline, autopipe-qwenimage"), (Task.INPAINT, "FluxFillPipeline, autopipe-flux")])
def test_img2img_and_inpaint_are_refused_saying_what_to_use(tiny_path, task, words):
    kit.check_refused(tiny_path, task, words, "use AutoPipelineForText2Image")


def test_pag_and_controlnet_are_refused_with_why(tiny_path):
    kit.check_no_pag_or_controlnet(tiny_path, "GLM-Image")


def test_the_editing_path_fails_with_transformers_5_as_the_refusal_says(pipe):
    """GlmImagePipeline(image=...) concatenates transformers' per-image features, then get_image_tokens walks the channels.

    When this fails (the editing path runs), serve GlmImagePipeline for img2img and drop the refusal.
    """
    image = pipe("a red fox", **CALL).images[0]
    features = pipe.vision_language_encoder.get_image_features(
        torch.zeros(4, 3 * tiny.PATCH * tiny.PATCH), torch.tensor([[1, 2, 2]])
    ).pooler_output
    assert isinstance(features, list) and features[0].shape == (tiny.WIDTH, 2, 2)  # one (channels, h, w) tensor per image
    with pytest.raises(RuntimeError, match="expected input\\[1, 1, 2, 2\\] to have 16 channels"):
        pipe("make it blue", image=[image], **CALL)


def test_diffusers_knows_no_glm_image_single_file_so_none_is_claimed():
    kit.check_no_diffusers_single_file("glm", classes=["GlmImagePipeline"], models=["GlmImageTransformer2DModel"], plugin=glm)


# Loading code


def _identity(files=BF16_FILES, configs=None) -> Identity:
    return Identity("folder", "x", "GlmImagePipeline", files=files, configs=configs or {})


def test_bfloat16_where_the_device_has_it_float32_elsewhere_saying_the_ram_it_takes():
    plans = kit.check_bfloat16_plan(plan, _identity(PLAIN_FILES), _identity())
    assert "53 GB of RAM" in plans.cpu.reason
    assert NO_FLOAT16 in plans.without_bf16.reason and "cuda has no bfloat16" in plans.without_bf16.reason


def test_only_t5s_wo_is_kept_in_float32():
    from diffusers import AutoencoderKL, GlmImageTransformer2DModel
    from transformers import GlmImageForConditionalGeneration, T5EncoderModel

    assert T5EncoderModel._keep_in_fp32_modules == ["wo"] and dict(ALLOWANCE.float32_modules) == {"text_encoder": ("wo",)}
    for cls in (GlmImageForConditionalGeneration, GlmImageTransformer2DModel, AutoencoderKL):
        assert not getattr(cls, "_keep_in_fp32_modules", None), cls.__name__


def test_the_allowance_is_stated_at_the_transformers_sample_size(tiny_path):
    at = ALLOWANCE.activation(_identity(configs={"transformer": {"sample_size": 128}}), plan(_identity(), BF16_GPU))
    assert (at.width, at.nbytes) == (1024, 2 * GiB + GiB // 2)
    placed = plan_placement(resolve(tiny_path, Task.TEXT2IMG), BF16_GPU)
    assert placed.footprint.activation.width == 128 * loading.VAE_SCALE  # the tiny transformer keeps the default sample_size


def test_the_tiny_checkpoint_is_planned_at_exactly_its_loaded_bytes(tiny_path):
    placed = plan_placement(resolve(tiny_path, Task.TEXT2IMG), BF16_GPU)
    loaded = AutoPipelineForText2Image.from_pretrained(tiny_path, torch_dtype=torch.bfloat16)
    for name in ("vision_language_encoder", "text_encoder", "transformer", "vae"):
        counted = placed.footprint.component(name)
        tensors = {t.data_ptr(): t for t in getattr(loaded, name).state_dict().values()}  # T5's tied embedding once
        assert counted.nbytes == sum(t.numel() * t.element_size() for t in tensors.values()), name


def test_the_full_size_parameter_counts_the_docs_give():
    """transformers' default GlmImageConfig and diffusers' default GlmImageTransformer2DModel, on the meta device (no weights)."""
    from accelerate import init_empty_weights
    from diffusers import GlmImageTransformer2DModel
    from transformers import GlmImageConfig, GlmImageForConditionalGeneration

    with init_empty_weights():
        ar = GlmImageForConditionalGeneration(GlmImageConfig())
        dit = GlmImageTransformer2DModel()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ar) == 10_114_245_632 and count(dit) == 2_902_420_032 and dit.config.text_embed_dim == 1472


# The tiny checkpoint and what GlmImagePipeline does


def test_the_tiny_builder_refuses_variants_and_other_families(tmp_path):
    with pytest.raises(ValueError):
        tiny.build(glm.GLM_IMAGE, tmp_path / "x", variant="bf16")
    with pytest.raises(ValueError, match="builds no tiny 'flux'"):
        tiny.pipeline("flux")


def test_the_tiny_checkpoint_has_the_real_ones_components_and_needs_no_torchvision(tiny_path, pipe):
    index = json.loads((tiny_path / "model_index.json").read_text())
    assert index["processor"] == ["glm_image", "GlmImageProcessor"] and index["tokenizer"] == ["transformers", "ByT5Tokenizer"]
    assert index["vision_language_encoder"] == ["glm_image", "GlmImageForConditionalGeneration"]
    saved = json.loads((tiny_path / "processor" / "processor_config.json").read_text())["image_processor"]
    assert saved["image_processor_type"] == "GlmImageImageProcessor"  # the torchvision class's name, as a real checkpoint's
    expected = "GlmImageImageProcessor" if importlib.util.find_spec("torchvision") else "GlmImageImageProcessorPil"
    assert type(pipe.processor.image_processor).__name__ == expected


def test_a_call_draws_the_prior_tokens_then_the_image(pipe):
    prior, _, _ = pipe.generate_prior_tokens("a red fox", 64, 64, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))
    assert prior.shape == (1, 16) and int(prior.max()) < tiny.PRIORS  # 2 x 2 tokens of 32 px, upsampled to 4 x 4
    image = pipe('a sign that says "hi"', output_type="np", **CALL).images[0]
    assert image.shape == (64, 64, 3)
    assert pipe("a red fox", **{**CALL, "height": 64, "width": 128}).images[0].size == (128, 64)


def test_a_call_needs_height_and_width(pipe):
    """diffusers 0.42.1 hands a missing height to the processor as None: give height and width (docs/glm-image.md)."""
    with pytest.raises(Exception, match="target_h"):
        pipe("a red fox", num_inference_steps=1, max_sequence_length=16)
