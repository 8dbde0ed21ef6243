"""A checkpoint laid out as the original Kwai-Kolors/Kolors repository, end to end: the guard lets its "kolors" library
through, it loads as KolorsPipeline, runs without a negative prompt, switches tasks, with and without autopipe-sdxl
installed; and the diffusers bug behind force_zeros_for_empty_prompt=False, checked to be still there."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from autopipe_core import AutoPipelineForImage2Image, AutoPipelineForText2Image, UntrustedCodeError, guard, resolve
from autopipe_kolors import FAMILY, ORIGINAL_LAYOUT

BOTH = "autopipe-kolors,autopipe-sdxl"
CALL = dict(num_inference_steps=2, output_type="np")


@pytest.fixture(scope="module")
def original(tiny_checkpoint):
    return tiny_checkpoint(FAMILY, ORIGINAL_LAYOUT)


def test_the_guard_lets_the_kolors_library_through_as_diffusers_own_subpackage(original):
    index = json.loads((original / "model_index.json").read_text())
    assert index["text_encoder"][0] == index["tokenizer"][0] == "kolors"
    assert guard.is_pipeline_module("kolors") and guard.foreign_in(original) == {}


def test_a_library_that_is_no_diffusers_subpackage_is_still_refused(original, tmp_path):
    import shutil

    folder = tmp_path / "renamed"
    shutil.copytree(original, folder)
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "text_encoder": ["kolors_code", "ChatGLMModel"]}))
    assert resolve(folder, "text2img").pipeline_class == "KolorsPipeline"  # resolution reads JSON, never the library
    with pytest.raises(UntrustedCodeError, match="kolors_code"):
        AutoPipelineForText2Image.from_pretrained(folder)


@pytest.mark.parametrize("plugins", ["autopipe-kolors", BOTH])
def test_it_loads_as_kolors_and_runs_without_a_negative_prompt(original, monkeypatch, plugins):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", plugins)
    pipe = AutoPipelineForText2Image.from_pretrained(original)
    assert type(pipe).__name__ == "KolorsPipeline" and type(pipe.text_encoder).__name__ == "ChatGLMModel"
    assert pipe.config.force_zeros_for_empty_prompt is False  # its model_index says true: see below
    assert pipe.text_encoder.dtype == pipe.unet.dtype == torch.float32  # its text encoder's config says float16: see below
    out = pipe("a red fox", **CALL).images
    assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()
    i2i = AutoPipelineForImage2Image.from_pipe(pipe)
    assert type(i2i).__name__ == "KolorsImg2ImgPipeline" and i2i.unet is pipe.unet and i2i.config.force_zeros_for_empty_prompt is False
    assert i2i("a red fox", image=Image.new("RGB", (64, 64), (90, 160, 220)), strength=1.0, **CALL).images.shape == (1, 64, 64, 3)
    pag = AutoPipelineForText2Image.from_pipe(pipe, enable_pag=True)
    assert type(pag).__name__ == "KolorsPAGPipeline" and pag("a red fox", **CALL).images.shape == (1, 64, 64, 3)


def test_the_float16_pickle_shards_load_as_the_same_weights(original, tiny_checkpoint):
    """ChatGLM3's keys carry the "transformer." prefix in the original repository's .bin shards: diffusers' ChatGLMModel
    (base_model_prefix "transformer") takes them, every one, rounded to float16 as they were stored."""
    stored = AutoPipelineForText2Image.from_pretrained(original).text_encoder.state_dict()
    built = AutoPipelineForText2Image.from_pretrained(tiny_checkpoint(FAMILY)).text_encoder.state_dict()
    assert stored.keys() == built.keys()
    assert all(torch.equal(stored[k], built[k].to(torch.float16).to(torch.float32)) for k in built)


def test_diffusers_alone_mixes_dtypes_and_fails_where_no_dtype_is_given(original):
    """Why the core passes dtype=torch.float32 when the caller names none: diffusers hands transformers dtype=None,
    which transformers 5 reads as the config's float16. When this test fails, diffusers loads such a text encoder in
    float32 by itself; the default in autopipe_core.loading.with_default_dtype can go."""
    from diffusers import KolorsPipeline

    pipe = KolorsPipeline.from_pretrained(original, force_zeros_for_empty_prompt=False)
    assert (pipe.text_encoder.dtype, pipe.unet.dtype) == (torch.float16, torch.float32)
    with pytest.raises(RuntimeError, match="same dtype"):
        pipe("a red fox", **CALL)


def test_diffusers_still_fails_without_a_negative_prompt_when_told_to_zero_it(original):
    """Why the plugin loads with force_zeros_for_empty_prompt=False (huggingface/diffusers#13612): when this test
    fails, diffusers zeroes the pooled embedding too; drop the keyword from autopipe_kolors.loading.from_pretrained."""
    pipe = AutoPipelineForText2Image.from_pretrained(original, force_zeros_for_empty_prompt=True, dtype=torch.float32)  # the caller's own win
    assert pipe.config.force_zeros_for_empty_prompt is True
    assert pipe("a red fox", negative_prompt="", **CALL).images.shape == (1, 64, 64, 3)  # a negative prompt: nothing zeroed
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'repeat'"):
        pipe("a red fox", **CALL)
