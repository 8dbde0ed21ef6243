"""Sana and Sana Sprint: told apart by the transformer's config, loaded in the dtypes diffusers' docs give, ControlNet, default calls."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import autopipe_pixart as pixart
import autopipe_pixart.plugin as pixart_plugin
from autopipe_core import (
    AutoPipelineForImage2Image,
    AutoPipelineForText2Image,
    DeviceFacts,
    GiB,
    Identity,
    InvalidModelError,
    Task,
    UnsupportedModelError,
    UnsupportedTaskError,
    resolve,
)
from autopipe_core.builtin import CONTROLNET_CLASSES
from autopipe_pixart.loading import SANA_ALLOWANCE, plan
from autopipe_pixart.tiny import pipeline as tiny_pipeline
from autopipe_pixart.tiny import sana_controlnet

BF16_GPU = DeviceFacts("cuda", 1, 70 * GiB, 80 * GiB, True)
T4 = DeviceFacts("cuda", 1, 14 * GiB, 15 * GiB, False)  # no bfloat16
FP16_FILES = ("model_index.json", *(f"{c}/diffusion_pytorch_model.fp16.safetensors" for c in ("transformer", "vae")),
              "transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
              "text_encoder/model.fp16.safetensors", "text_encoder/model.safetensors")
BF16_FILES = tuple(f.replace("fp16", "bf16") for f in FP16_FILES)
BF16_ONLY = tuple(f for f in BF16_FILES if "bf16" in f or f == "model_index.json")
PLAIN_FILES = tuple(f for f in FP16_FILES if "fp16" not in f)

SANA_INDEX = {
    "scheduler": ["diffusers", "DPMSolverMultistepScheduler"],
    "text_encoder": ["transformers", "Gemma2Model"],
    "tokenizer": ["transformers", "GemmaTokenizerFast"],
    "transformer": ["diffusers", "SanaTransformer2DModel"],
    "vae": ["diffusers", "AutoencoderDC"],
}
#: Sana_1600M_1024px_diffusers as converted before diffusers knew Sprint: no guidance_embeds key at all.
SANA_1600M = {
    "_class_name": "SanaTransformer2DModel", "in_channels": 32, "out_channels": 32, "num_attention_heads": 70,
    "attention_head_dim": 32, "num_layers": 20, "num_cross_attention_heads": 20, "cross_attention_head_dim": 112,
    "cross_attention_dim": 2240, "caption_channels": 2304, "sample_size": 32, "patch_size": 1,
}
SPRINT_1600M = {**SANA_1600M, "guidance_embeds": True, "qk_norm": "rms_norm_across_heads"}


def _layout(root: Path, cls: str, transformer: dict) -> Path:
    root.mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": cls, **SANA_INDEX}))
    (root / "transformer").mkdir()
    (root / "transformer" / "config.json").write_text(json.dumps(transformer))
    return root


def _renamed(tmp_path: Path, folder: Path, cls: str) -> Path:
    """A copy of a tiny checkpoint whose model_index.json names another class."""
    copy = tmp_path / cls
    shutil.copytree(folder, copy)
    index = json.loads((copy / "model_index.json").read_text())
    (copy / "model_index.json").write_text(json.dumps({**index, "_class_name": cls}))
    return copy


def _identity(files, transformer=None):
    return Identity("folder", "x", "SanaPipeline", files=files, configs={"transformer": transformer or {"sample_size": 32}})


def _quiet(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe


# Sana or Sana Sprint: the transformer's config says, whatever class name model_index.json gives


def test_the_real_configs_resolve_as_diffusers_does(tmp_path):
    sana = _layout(tmp_path / "sana", "SanaPipeline", SANA_1600M)
    sprint = _layout(tmp_path / "sprint", "SanaSprintPipeline", SPRINT_1600M)
    assert (resolve(sana, Task.TEXT2IMG).family, resolve(sana, Task.TEXT2IMG).pipeline_class) == (pixart.SANA, "SanaPipeline")
    assert resolve(sana, Task.TEXT2IMG, enable_pag=True).pipeline_class == "SanaPAGPipeline"
    assert {t: resolve(sprint, t).pipeline_class for t in (Task.TEXT2IMG, Task.IMG2IMG)} == {
        Task.TEXT2IMG: "SanaSprintPipeline", Task.IMG2IMG: "SanaSprintImg2ImgPipeline",
    }


def test_a_sprint_checkpoint_saved_under_sanas_class_name_resolves_to_sprint(tmp_path, tiny_checkpoint):
    folder = _renamed(tmp_path, tiny_checkpoint(pixart.SANA_SPRINT), "SanaPipeline")
    assert {t: (resolve(folder, t).family, resolve(folder, t).pipeline_class) for t in (Task.TEXT2IMG, Task.IMG2IMG)} == {
        Task.TEXT2IMG: (pixart.SANA_SPRINT, "SanaSprintPipeline"), Task.IMG2IMG: (pixart.SANA_SPRINT, "SanaSprintImg2ImgPipeline"),
    }
    pipe = _quiet(AutoPipelineForImage2Image.from_pretrained(folder))
    assert type(pipe).__name__ == "SanaSprintImg2ImgPipeline"


def test_a_sana_checkpoint_saved_under_sprints_class_name_resolves_to_sana(tmp_path, tiny_checkpoint):
    folder = _renamed(tmp_path, tiny_checkpoint(pixart.SANA), "SanaSprintPipeline")
    assert (resolve(folder, Task.TEXT2IMG).family, resolve(folder, Task.TEXT2IMG).pipeline_class) == (pixart.SANA, "SanaPipeline")
    with pytest.raises(UnsupportedTaskError, match="SanaSprintImg2ImgPipeline does img2img, but only with a Sana Sprint checkpoint"):
        resolve(folder, Task.IMG2IMG)


def test_a_sprint_checkpoint_under_a_pag_class_is_refused_as_sprint(tmp_path, tiny_checkpoint):
    folder = _renamed(tmp_path, tiny_checkpoint(pixart.SANA_SPRINT), "SanaPAGPipeline")
    with pytest.raises(UnsupportedModelError, match="guidance_embeds True.*Sana Sprint checkpoint.*no PAG or ControlNet pipeline"):
        resolve(folder, Task.TEXT2IMG)


def test_from_pipe_of_a_live_sana_pipeline_holding_a_sprint_transformer_goes_to_sprints_classes():
    """A live SanaPipeline built on Sprint's components: from_pipe reads the live transformer's config, as from_pretrained reads the file."""
    import diffusers

    sprint = tiny_pipeline(pixart.SANA_SPRINT)
    live = diffusers.SanaPipeline(**sprint.components)
    switched = _quiet(AutoPipelineForImage2Image.from_pipe(live))
    assert type(switched).__name__ == "SanaSprintImg2ImgPipeline" and switched.transformer is sprint.transformer
    with pytest.raises(UnsupportedTaskError, match="no PAG pipeline for Sana Sprint"):  # Sprint's rows, not Sana's PAG class
        AutoPipelineForText2Image.from_pipe(live, enable_pag=True)


@pytest.mark.parametrize("family, words", [(pixart.SANA_SPRINT, "leave out enable_pag"), (pixart.SANA, "SanaPAGPipeline")])
def test_pag_is_sanas_only(tiny_checkpoint, family, words):
    if family == pixart.SANA:
        assert resolve(tiny_checkpoint(family), Task.TEXT2IMG, enable_pag=True).pipeline_class == words
    else:
        with pytest.raises(UnsupportedTaskError, match=words):
            resolve(tiny_checkpoint(family), Task.TEXT2IMG, enable_pag=True)


# ControlNet: the core's controlnet= selects SanaControlNetPipeline


def test_builtin_controlnet_takes_sanas_controlnet_model():
    assert "SanaControlNetModel" in CONTROLNET_CLASSES


def test_a_saved_sana_controlnet_pipeline_loads_and_goes_back_without_its_controlnet(tmp_path, tiny_checkpoint):
    base = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(pixart.SANA))
    with_controlnet = AutoPipelineForText2Image.from_pipe(base, controlnet=sana_controlnet(base.transformer))
    assert type(with_controlnet).__name__ == "SanaControlNetPipeline"
    with_controlnet.save_pretrained(tmp_path / "saved")
    assert resolve(tmp_path / "saved", Task.TEXT2IMG).modifiers == frozenset({pixart_plugin.CONTROLNET})
    loaded = _quiet(AutoPipelineForText2Image.from_pretrained(tmp_path / "saved"))
    assert type(loaded).__name__ == "SanaControlNetPipeline"
    image = loaded("a fox", control_image=torch.zeros(1, 3, 64, 64), num_inference_steps=2, height=64, width=64, use_resolution_binning=False)
    assert image.images[0].size == (64, 64)
    plain = AutoPipelineForText2Image.from_pipe(loaded, controlnet=None)
    assert type(plain).__name__ == "SanaPipeline" and plain.transformer is loaded.transformer
    with pytest.raises(UnsupportedTaskError, match="SanaControlNetPipeline does text2img only"):
        AutoPipelineForImage2Image.from_pipe(loaded)


def test_controlnet_on_sprint_is_refused_with_why(tiny_checkpoint):
    sprint = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(pixart.SANA_SPRINT))
    with pytest.raises(UnsupportedTaskError, match="no ControlNet pipeline for Sana Sprint"):
        AutoPipelineForText2Image.from_pipe(sprint, controlnet=sana_controlnet(sprint.transformer))


# Loading code: diffusers' Sana docs, device by device


def test_a_cpu_loads_float32():
    p = plan(pixart.SANA, _identity(FP16_FILES), DeviceFacts("cpu"))
    assert (p.dtype, p.variant, dict(p.component_dtypes)) == ("float32", None, {})


def test_a_float16_release_keeps_its_transformer_in_float16_and_gemma_and_dc_ae_in_bfloat16():
    p = plan(pixart.SANA, _identity(FP16_FILES), BF16_GPU)
    assert (p.dtype, p.variant, dict(p.component_dtypes)) == ("float16", "fp16", {"text_encoder": "bfloat16", "vae": "bfloat16"})
    assert "must stay bfloat16 or float32" in p.reason


def test_a_bfloat16_release_loads_bfloat16_from_its_bf16_files():
    p = plan(pixart.SANA, _identity(BF16_FILES), BF16_GPU)
    assert (p.dtype, p.variant, dict(p.component_dtypes)) == ("bfloat16", "bf16", {})
    assert "bf16 weight files" in p.reason


def test_plain_files_load_bfloat16_where_the_device_has_it():
    p = plan(pixart.SANA, _identity(PLAIN_FILES), BF16_GPU)
    assert (p.dtype, p.variant, dict(p.component_dtypes)) == ("bfloat16", None, {})


def test_without_bfloat16_the_text_encoder_and_vae_go_float32_and_a_float16_release_keeps_float16():
    p = plan(pixart.SANA, _identity(FP16_FILES), T4)
    assert (p.dtype, p.variant, dict(p.component_dtypes)) == ("float16", "fp16", {"text_encoder": "float32", "vae": "float32"})
    assert "cuda has no bfloat16" in p.reason


@pytest.mark.parametrize("files, transformer, why", [
    (BF16_ONLY, {"sample_size": 32}, "bf16 weight files"),
    (PLAIN_FILES, {"sample_size": 128}, "4096 px"),
    (PLAIN_FILES, {"sample_size": 64}, "2048 px"),
    (PLAIN_FILES, {"sample_size": 32, "guidance_embeds": True}, "Sana Sprint"),
])
def test_without_bfloat16_a_model_trained_in_it_loads_float32(files, transformer, why):
    """bfloat16 weights overflow float16 (the 2K and 4K models, Sprint, the _BF16 releases): float32 where the device lacks bfloat16."""
    p = plan(pixart.SANA, _identity(files, transformer), T4)
    assert p.dtype == "float32" and dict(p.component_dtypes) == {} and why in p.reason
    assert p.variant == ("bf16" if files == BF16_ONLY else None)  # a checkpoint with only bf16 files can load nothing else
    bf16 = plan(pixart.SANA, _identity(files, transformer), BF16_GPU)
    assert bf16.dtype == "bfloat16" and dict(bf16.component_dtypes) == {}


def test_a_corrupt_sample_size_is_named():
    with pytest.raises(InvalidModelError, match="sample_size"):
        plan(pixart.SANA, _identity(PLAIN_FILES, {"sample_size": 10**9}), T4)


def test_the_float16_release_plans_dtypes_run(tiny_checkpoint):
    """The mixed plan (transformer float16, Gemma 2 and DC-AE bfloat16) loads and runs: the pipeline casts between them."""
    p = plan(pixart.SANA, _identity(FP16_FILES), BF16_GPU)
    dtype = {"default": getattr(torch, p.dtype), **{n: getattr(torch, d) for n, d in p.component_dtypes.items()}}
    pipe = _quiet(AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(pixart.SANA), dtype=dtype))
    assert (pipe.transformer.dtype, pipe.text_encoder.dtype, pipe.vae.dtype) == (torch.float16, torch.bfloat16, torch.bfloat16)
    assert pipe("a fox", num_inference_steps=2, height=64, width=64, use_resolution_binning=False).images[0].size == (64, 64)


@pytest.mark.parametrize("sample_size, side, gib", [(16, 512, 0.875), (32, 1024, 2.0), (128, 4096, 24.5)])
def test_the_sana_allowance_is_stated_at_the_native_side(sample_size, side, gib):
    identity = _identity(PLAIN_FILES, {"sample_size": sample_size})
    activation = SANA_ALLOWANCE.activation(identity, plan(pixart.SANA, identity, BF16_GPU))
    assert (activation.width, activation.height, activation.nbytes) == (side, side, int(gib * GiB))


# The default calls: diffusers' resolution binning on, Sana's complex human instruction prepended


@pytest.mark.parametrize("family", [pixart.SANA, pixart.SANA_SPRINT])
def test_a_call_with_diffusers_defaults_runs_on_the_tiny_checkpoints(tiny_checkpoint, family):
    """Both pipelines default to 1024x1024, drawn at the nearest binned size (512 for the tiny Sana) and resized to it."""
    pipe = _quiet(AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(family)))
    assert pipe("a red fox in the snow", num_inference_steps=2).images[0].size == (1024, 1024)


def test_sprint_needs_two_steps_or_no_intermediate_timestep(tiny_checkpoint):
    """diffusers' SanaSprintPipeline takes an intermediate timestep (1.3) for its default 2 steps only; docs/sana.md says so."""
    pipe = _quiet(AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(pixart.SANA_SPRINT)))
    call = dict(height=64, width=64, use_resolution_binning=False)
    with pytest.raises(ValueError, match="num_inference_steps != 2"):
        pipe("a fox", num_inference_steps=4, **call)
    assert pipe("a fox", num_inference_steps=4, intermediate_timesteps=None, **call).images[0].size == (64, 64)
