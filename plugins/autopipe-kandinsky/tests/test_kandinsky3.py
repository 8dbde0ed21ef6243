"""Kandinsky 3: its rows against diffusers' own tables, its refusals, loading plans, the tiny checkpoint and the routing
that keeps it away from the Kandinsky 2.x code."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import autopipe_kandinsky
from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DeviceFacts,
    GiB,
    Identity,
    Task,
    UnsupportedTaskError,
    resolve,
)
from autopipe_core.registry import get_registry
from autopipe_core.specs import class_name
from autopipe_kandinsky import kandinsky3 as k3
from autopipe_kandinsky.kandinsky3_loading import ALLOWANCE, WHY_FLOAT16, plan

K3 = k3.KANDINSKY3
FAST = {"num_inference_steps": 2, "height": 64, "width": 64}

#: kandinsky-community/kandinsky-3's model_index.json, as its repo lists its components (the keys resolution reads).
INDEX = {
    "_class_name": "Kandinsky3Pipeline",
    "_diffusers_version": "0.24.0.dev0",
    "movq": ["diffusers", "VQModel"],
    "scheduler": ["diffusers", "DDPMScheduler"],
    "text_encoder": ["transformers", "T5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"],
    "unet": ["diffusers", "Kandinsky3UNet"],
}


@pytest.fixture(scope="session")
def tiny_k3(tiny_checkpoint):
    return tiny_checkpoint(K3)


@pytest.fixture(scope="module")
def text2img(tiny_k3):
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_k3)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# -- the table ------------------------------------------------------------------------------------------------------


def test_rows_are_diffusers_own_tables():
    from diffusers.pipelines import auto_pipeline as auto

    assert auto.AUTO_TEXT2IMAGE_PIPELINES_MAPPING[K3].__name__ == class_name(k3.CLASSES[Task.TEXT2IMG])
    assert auto.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING[K3].__name__ == class_name(k3.CLASSES[Task.IMG2IMG])
    assert K3 not in auto.AUTO_INPAINT_PIPELINES_MAPPING  # hence the refusal
    tables = [getattr(auto, name) for name in dir(auto) if name.startswith("AUTO_") and name.endswith("_PIPELINES_MAPPING")]
    assert all(key == K3 or not key.startswith(K3) for table in tables for key in table)  # no PAG or ControlNet key
    plain = get_registry().table[(K3, frozenset())]
    assert {t: ref for t, (ref, _) in plain.items()} == dict(k3.CLASSES)


def test_the_real_index_resolves_from_json_alone(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps(INDEX))
    assert resolve(tmp_path, "text2img").pipeline_class == "Kandinsky3Pipeline"
    assert resolve(tmp_path, "img2img").pipeline_class == "Kandinsky3Img2ImgPipeline"
    assert resolve(tmp_path, "img2img").family == K3


def test_inpaint_is_refused_before_loading_with_what_to_use(tiny_k3, monkeypatch):
    from diffusers import DiffusionPipeline

    def no_loading(*args, **kwargs):
        raise AssertionError("weights were read before the task was refused")

    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", no_loading)
    with pytest.raises(UnsupportedTaskError) as info:
        AutoPipelineForInpainting.from_pretrained(tiny_k3)
    message = str(info.value)
    assert "no inpainting pipeline for Kandinsky 3" in message and "kandinsky-2-2-decoder-inpaint" in message
    assert "AutoPipelineForText2Image or AutoPipelineForImage2Image" in message


def test_inpaint_of_a_live_pipeline_is_refused_too(text2img):
    with pytest.raises(UnsupportedTaskError, match="no inpainting pipeline for Kandinsky 3"):
        AutoPipelineForInpainting.from_pipe(text2img)


@pytest.mark.parametrize("hint, why", [({"enable_pag": True}, k3.NO_PAG), ({"controlnet": object()}, k3.NO_CONTROLNET)])
@pytest.mark.parametrize("task", ["text2img", "img2img"])
def test_pag_and_controlnet_are_refused_with_why(tiny_k3, hint, why, task):
    with pytest.raises(UnsupportedTaskError) as info:
        resolve(tiny_k3, task, **hint)
    assert why in str(info.value)


def test_diffusers_has_no_single_file_loader_for_it():
    """The plugin reads no Kandinsky 3 single file because diffusers 0.42.1 has nothing that would load one."""
    import diffusers
    from diffusers.loaders import single_file_model, single_file_utils

    for name in ("Kandinsky3Pipeline", "Kandinsky3Img2ImgPipeline"):
        assert not hasattr(getattr(diffusers, name), "from_single_file"), name
    assert not [key for key in single_file_utils.CHECKPOINT_KEY_NAMES if "kandinsky" in key.lower()]
    assert "Kandinsky3UNet" not in single_file_model.SINGLE_FILE_LOADABLE_CLASSES
    info = next(p for p in get_registry().plugins if p.distribution == "autopipe-kandinsky")
    assert "autopipe_detect" not in info.hooks


# -- end to end on the tiny checkpoint ---------------------------------------------------------------------------------


def test_text2img_draws_the_size_asked_and_img2img_shares_the_objects(text2img):
    assert type(text2img).__name__ == "Kandinsky3Pipeline"
    assert type(text2img.text_encoder).__name__ == "T5EncoderModel" and type(text2img.unet).__name__ == "Kandinsky3UNet"
    # The pipeline sizes latents for a MoVQ that scales by 8 (the tiny one's four levels do): 64x64 asked, 64x64 drawn.
    image = text2img("a red fox", generator=torch.Generator().manual_seed(0), output_type="np", **FAST).images
    assert image.shape == (1, 64, 64, 3) and np.isfinite(image).all()
    img2img = AutoPipelineForImage2Image.from_pipe(text2img)
    assert type(img2img).__name__ == "Kandinsky3Img2ImgPipeline"
    for name in ("tokenizer", "text_encoder", "unet", "scheduler", "movq"):
        assert getattr(img2img, name) is getattr(text2img, name), name
    picture = Image.fromarray((image[0] * 255).round().astype(np.uint8))  # Kandinsky3Img2ImgPipeline takes PIL or torch only
    redrawn = img2img("a red fox", image=picture, strength=0.75, num_inference_steps=2, output_type="np").images
    assert redrawn.shape == (1, 64, 64, 3)
    assert type(AutoPipelineForText2Image.from_pipe(img2img)).__name__ == "Kandinsky3Pipeline"


def test_the_tiny_builder_builds_kandinsky3_alone(tmp_path):
    from autopipe_kandinsky.kandinsky3_tiny import build

    with pytest.raises(ValueError, match="kandinsky3 has no tiny variant 'inpainting-only'; it builds only its ordinary checkpoint"):
        build(K3, tmp_path / "x", "inpainting-only")
    with pytest.raises(ValueError, match="builds kandinsky3 only"):
        build("kandinsky22", tmp_path / "y")


# -- loading plans ----------------------------------------------------------------------------------------------------

FP16_FILES = (
    "model_index.json",
    "unet/diffusion_pytorch_model.safetensors",
    "unet/diffusion_pytorch_model.fp16.safetensors",
    "text_encoder/model.fp16-00001-of-00002.safetensors",
    "text_encoder/model.fp16-00002-of-00002.safetensors",
    "movq/diffusion_pytorch_model.fp16.safetensors",
)


@pytest.mark.parametrize("device, dtype, variant", [
    (DeviceFacts("cpu"), "float32", None),
    (DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True), "float16", "fp16"),  # bfloat16 on the device, float16 all the same
    (DeviceFacts("cuda", 1, 16 * GiB, 16 * GiB, False), "float16", "fp16"),
    (DeviceFacts("mps", 1, None, None, False), "float16", "fp16"),
])
def test_float16_on_every_accelerator_from_the_fp16_files(device, dtype, variant):
    made = plan(Identity("folder", "k3", "Kandinsky3Pipeline", files=FP16_FILES), device)
    assert (made.dtype, made.variant, made.placement, made.skip, made.component_dtypes) == (dtype, variant, "device", frozenset(), {})
    assert (WHY_FLOAT16 in made.reason) == device.accelerated


def test_without_fp16_files_the_plain_ones():
    made = plan(Identity("folder", "k3", "Kandinsky3Pipeline", files=("unet/diffusion_pytorch_model.safetensors",)),
                DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, True))
    assert (made.dtype, made.variant) == ("float16", None) and "no fp16 variant" in made.reason


def test_the_allowance_is_stated_at_1024_and_scales_with_the_pixels():
    assert ALLOWANCE.nbytes(1024, 1024, "float16") == 3 * GiB + GiB // 2
    assert ALLOWANCE.nbytes(512, 512, "float16") == 3 * GiB // 4 + GiB // 2
    assert ALLOWANCE.nbytes(1024, 1024, "float32") == 6 * GiB + GiB // 2
    assert ALLOWANCE.side(Identity("folder", "k3", "Kandinsky3Pipeline")) == 1024  # Kandinsky3UNet's config has no sample_size


def test_the_planned_t5_holds_its_wo_layers_in_float32(tiny_k3):
    from autopipe_core.planning import plan as plan_for

    planned = plan_for(resolve(tiny_k3, "text2img"), DeviceFacts("cuda", 1, 80 * GiB, 80 * GiB, False))
    t5 = planned.footprint.component("text_encoder")
    loaded = AutoPipelineForText2Image.from_pretrained(tiny_k3, torch_dtype=torch.float16).text_encoder
    wo = [p for name, p in loaded.named_parameters() if name.endswith("wo.weight")]
    assert wo and all(p.dtype == torch.float32 for p in wo)  # transformers' own rule, which the count follows
    held = {t.data_ptr(): t.numel() * t.element_size() for t in loaded.state_dict().values()}  # the tied embedding once
    assert t5.nbytes == sum(held.values()) == 2 * t5.parameters + 2 * sum(p.numel() for p in wo)
    assert planned.footprint.activation.width == 1024 and "MoVQ decode" in planned.footprint.activation.reason


# -- the routing --------------------------------------------------------------------------------------------------------


def test_kandinsky3_never_reaches_the_kandinsky_2_code(tiny_k3):
    """The 2.x hooks index their tables by family (CONNECTIONS[family]: a KeyError for kandinsky3); with a reference per
    family, kandinsky3 gets None from both, the core's default: the class's own from_pretrained, the placement rules' choice."""
    from diffusers import Kandinsky3Pipeline

    identity = Identity("folder", str(tiny_k3), "Kandinsky3Pipeline")
    assert autopipe_kandinsky.autopipe_from_pretrained(K3, Kandinsky3Pipeline, str(tiny_k3), {}) is None
    assert autopipe_kandinsky.autopipe_placement(K3, identity, DeviceFacts("cuda", 2, GiB, GiB), None, None) is None
    assert not hasattr(autopipe_kandinsky, "autopipe_from_single_file")  # implemented by neither side: not registered


