"""autopipe-sd's single-file detection, tensor by tensor: which file is which variant, with which config folder, and what it leaves alone.

Headers hold only the tensors detection reads, under their original (LDM) names with true shapes: the UNet's
first convolution (its input channels: 4 plain, 9 inpainting, 5 depth, 8 InstructPix2Pix), a cross-attention
key (its width: 768 SD 1.x, 1024 SD 2.x), and optionally a text-encoder tensor or SDXL's ``label_emb``.
"""

from pathlib import Path

import pytest

from autopipe_core.headers import read_header, write_header
from autopipe_sd.single_file import PREFIXES, config_folder, detect

UNET = "model.diffusion_model."
CONV_IN = UNET + "input_blocks.0.0.weight"
CROSS = UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
TEXT = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"


@pytest.fixture
def header(tmp_path):
    count = iter(range(10_000))

    def make(channels=4, model=320, width=768, *, text=True, cross=CROSS, conv_shape=None, extra=None, metadata=None):
        tensors = {CONV_IN: ("F16", conv_shape or (model, channels, 3, 3))}
        if cross is not None:
            tensors[cross] = ("F16", (model, width))
        if text:
            tensors[TEXT] = ("F16", (49408, 768))
        tensors.update(extra or {})
        return read_header(write_header(tmp_path / f"f{next(count)}.safetensors", tensors, metadata))

    return make


@pytest.mark.parametrize(
    "model, width, channels, variant, cls",
    [
        (320, 768, 4, "sd1", "StableDiffusionPipeline"),
        (320, 768, 9, "sd1-inpainting", "StableDiffusionInpaintPipeline"),
        (320, 1024, 9, "sd2-inpainting", "StableDiffusionInpaintPipeline"),
        (16, 32, 4, "tiny", "StableDiffusionPipeline"),
        (16, 32, 9, "tiny", "StableDiffusionInpaintPipeline"),
    ],
)
def test_each_variant_gets_its_own_config_folder_and_class(header, model, width, channels, variant, cls):
    (d,) = detect(header(channels, model, width))
    assert (d.family, d.variant, d.pipeline_class) == ("stable-diffusion", variant, f"diffusers:{cls}")
    assert Path(d.config) == config_folder(variant) and Path(d.config).name == variant
    assert d.confidence == (0.9 if variant == "tiny" else 0.95)
    assert dict(d.prefixes) == PREFIXES and d.scheduler == {}
    assert f"is {[model, channels, 3, 3]}" in d.reason and f"takes {width}" in d.reason
    assert ("9 input channels" in d.reason) is (channels == 9)
    assert "no text encoder" not in d.reason


def test_sd2_without_a_stated_prediction_is_both_readings_v_first(header):
    v, base = detect(header(4, 320, 1024))
    assert (v.variant, v.confidence, Path(v.config).name) == ("sd2-v", 0.6, "sd2-v")
    assert (base.variant, base.confidence, Path(base.config).name) == ("sd2-base", 0.4, "sd2-base")
    assert "taken as 768-v like diffusers" in v.reason and "epsilon (512-base) reading" in base.reason
    assert all(d.pipeline_class == "diffusers:StableDiffusionPipeline" for d in (v, base))


@pytest.mark.parametrize("said, variant", [("v", "sd2-v"), ("epsilon", "sd2-base")])
def test_sd2_with_a_stated_prediction_is_that_one_reading(header, said, variant):
    (d,) = detect(header(4, 320, 1024, metadata={"modelspec.prediction_type": said}))
    assert (d.variant, d.confidence, Path(d.config).name) == (variant, 0.95, variant)
    assert f"the {variant} config" in d.reason


@pytest.mark.parametrize("channels", [5, 8, 1, 3])
@pytest.mark.parametrize("model, width", [(320, 768), (320, 1024), (16, 32)])
def test_depth_and_instruct_pix2pix_unets_are_not_claimed(header, model, width, channels):
    # SD 2 depth takes 5 channels (latents + depth), InstructPix2Pix 8 (latents + image latents): no shipped config fits.
    assert detect(header(channels, model, width)) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": 640, "width": 768},  # another UNet size
        {"model": 320, "width": 2048},  # SDXL's cross-attention width
        {"cross": None},  # no cross-attention at all
        {"conv_shape": (320, 4)},  # a first convolution that is not a 4-D kernel
        {"extra": {UNET + "label_emb.0.0.weight": ("F16", (1280, 2816))}},  # SDXL's micro-conditioning
    ],
)
def test_what_is_not_sd_is_left_alone(header, kwargs):
    assert detect(header(**kwargs)) == []


def test_a_cross_attention_key_elsewhere_in_the_unet_is_found(header):
    other = UNET + "output_blocks.3.1.transformer_blocks.0.attn2.to_k.weight"
    (d,) = detect(header(4, 320, 768, cross=other))
    assert d.variant == "sd1" and "output_blocks.3.1.transformer_blocks.0.attn2.to_k.weight takes 768" in d.reason


def test_a_file_without_its_text_encoder_says_to_pass_one(header):
    (d,) = detect(header(4, 320, 768, text=False))
    assert d.variant == "sd1" and d.reason.endswith("the file has no text encoder (cond_stage_model.*): pass text_encoder= when loading")
