"""autopipe-sdxl's single-file detection, tensor by tensor: base, refiner, inpainting and the tiny layout, and what it leaves alone.

Headers hold only the tensors detection reads, under their original (SGM) names with true shapes: the UNet's
``label_emb`` (2816 inputs the base, 2560 the refiner), its first convolution (9 input channels: inpainting), one
tensor of each text encoder, and Playground v2.5's ``edm_mean`` / ``edm_std``.
"""

from pathlib import Path

import pytest

from autopipe_core.headers import read_header, write_header
from autopipe_sdxl.single_file import PREFIXES, REFINER_PREFIXES, config_folder, detect

UNET = "model.diffusion_model."
LABEL = UNET + "label_emb.0.0.weight"
CONV_IN = UNET + "input_blocks.0.0.weight"
CLIP_L = "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight"
BIG_G_BASE = "conditioner.embedders.1.model.token_embedding.weight"
BIG_G_REFINER = "conditioner.embedders.0.model.token_embedding.weight"
BASE = {LABEL: (1280, 2816), CONV_IN: (320, 4, 3, 3), CLIP_L: (49408, 768), BIG_G_BASE: (49408, 1280)}
REFINER = {LABEL: (1536, 2560), CONV_IN: (384, 4, 3, 3), BIG_G_REFINER: (49408, 1280)}


@pytest.fixture
def header(tmp_path):
    count = iter(range(10_000))

    def make(tensors, drop=(), **more):
        tensors = {k: v for k, v in {**tensors, **more}.items() if k not in drop}
        return read_header(write_header(tmp_path / f"f{next(count)}.safetensors", {k: ("F16", v) for k, v in tensors.items()}))

    return make


def _is(d, variant, cls, confidence):
    assert (d.family, d.variant, d.pipeline_class, d.confidence) == ("stable-diffusion-xl", variant, f"diffusers:{cls}", confidence)
    assert Path(d.config) == config_folder(variant) and Path(d.config).name == variant
    assert dict(d.prefixes) == (REFINER_PREFIXES if variant == "xl-refiner" else PREFIXES)


def test_base_refiner_and_inpainting_from_their_label_emb_and_channels(header):
    (base,) = detect(header(BASE))
    _is(base, "xl-base", "StableDiffusionXLPipeline", 0.95)
    assert base.reason.startswith("SDXL base: label_emb.0.0.weight is [1280, 2816]")
    (refiner,) = detect(header(REFINER))
    _is(refiner, "xl-refiner", "StableDiffusionXLImg2ImgPipeline", 0.95)
    assert refiner.reason.startswith("SDXL refiner: label_emb.0.0.weight is [1536, 2560]")
    (inpainting,) = detect(header(BASE, **{CONV_IN: (320, 9, 3, 3)}))
    _is(inpainting, "xl-inpainting", "StableDiffusionXLInpaintPipeline", 0.95)
    assert "input_blocks.0.0.weight takes 9 channels" in inpainting.reason


def test_the_tiny_layout_is_the_tiny_config(header):
    (d,) = detect(header(BASE, **{LABEL: (64, 2816)}))
    _is(d, "xl-tiny", "StableDiffusionXLPipeline", 0.9)


def test_without_label_emb_the_text_encoders_tell_base_from_refiner(header):
    (base,) = detect(header(BASE, drop=[LABEL]))
    _is(base, "xl-base", "StableDiffusionXLPipeline", 0.95)
    assert "two text encoders" in base.reason
    (refiner,) = detect(header(REFINER, drop=[LABEL]))
    _is(refiner, "xl-refiner", "StableDiffusionXLImg2ImgPipeline", 0.95)
    assert "only the refiner's text encoder" in refiner.reason


def test_without_a_first_convolution_the_claim_is_half_sure(header):
    (d,) = detect(header(BASE, drop=[CONV_IN]))
    _is(d, "xl-base", "StableDiffusionXLPipeline", 0.5)


def test_a_unet_alone_says_to_pass_the_text_encoders(header):
    (d,) = detect(header(BASE, drop=[CLIP_L, BIG_G_BASE]))
    _is(d, "xl-base", "StableDiffusionXLPipeline", 0.95)
    assert "the file has no text encoders (conditioner.*): pass text_encoder=/text_encoder_2= when loading" in d.reason
    (with_text,) = detect(header(BASE))
    assert "no text encoders" not in with_text.reason


@pytest.mark.parametrize("edm", [{"edm_mean": (1, 4, 1, 1)}, {"edm_mean": (1, 4, 1, 1), "edm_std": (1, 4, 1, 1)}])
def test_playground_v2_5_is_not_claimed_as_sdxl(header, edm):
    # Playground v2.5 has SDXL's architecture and layout, but an EDM schedule and its own latent statistics
    # (edm_mean / edm_std): SDXL's scheduler and VAE scaling would give wrong images.
    assert detect(header(BASE, **edm)) == []


@pytest.mark.parametrize(
    "tensors, drop, variants",
    [
        ({**BASE, LABEL: (1280, 2048)}, (), []),  # another label_emb: not a layout autopipe ships configs for
        (BASE, (LABEL, CONV_IN), []),  # text encoders only: no UNet
        ({CONV_IN: (320, 4, 3, 3)}, (), []),  # a UNet without label_emb or SDXL text encoders
        ({**REFINER, BIG_G_BASE: (49408, 1280)}, (LABEL,), ["xl-base"]),  # both bigG prefixes and no label_emb: the base's
    ],
)
def test_what_is_not_an_sdxl_file_is_left_alone_and_both_encoders_read_as_base(header, tensors, drop, variants):
    assert [d.variant for d in detect(header(tensors, drop=drop))] == variants
