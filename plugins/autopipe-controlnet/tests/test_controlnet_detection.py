"""autopipe-controlnet's single-file detection, tensor by tensor, and its loader's refusals.

Headers hold only the tensors detection reads, with true shapes: the original layout's hint block and
cross-attention (with lllyasviel's ``control_model.`` prefix or without it), diffusers' layout's conditioning
embedding, SDXL's ``add_embedding`` and the transformer layers that tell the full-size SDXL ControlNet.
"""

from pathlib import Path

import pytest

from autopipe_core import UnsupportedModelError
from autopipe_core.headers import read_header, write_header
from autopipe_controlnet import single_file
from autopipe_controlnet.single_file import CONFIGS, detect

HINT = "input_hint_block.0.weight"
LDM_CROSS = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
COND = "controlnet_cond_embedding.conv_in.weight"
CROSS = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"
XL_ADD = "add_embedding.linear_1.weight"
XL_CROSS = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"
XL_LARGE = "down_blocks.2.attentions.0.transformer_blocks.9.attn2.to_k.weight"


@pytest.fixture
def header(tmp_path):
    count = iter(range(10_000))

    def make(tensors):
        return read_header(write_header(tmp_path / f"f{next(count)}.safetensors", {k: ("F16", v) for k, v in tensors.items()}))

    return make


def _is(d, family, variant, base, confidence=0.95, shipped=True):
    assert (d.family, d.variant, d.component, d.pipeline_class, d.confidence) == (family, variant, "diffusers:ControlNetModel", None, confidence)
    assert (d.config == str(Path(CONFIGS) / variant)) if shipped else d.config is None
    how = "autopipe_controlnet.from_single_file(PATH)" if shipped else "diffusers.ControlNetModel.from_single_file(PATH, config=<a folder with its config.json>)"
    assert d.use.startswith(f"It is a ControlNet for {base}: load it with {how}")
    loading = base if "checkpoint" in base else f"a {base} checkpoint"  # "a autopipe-sd's tiny test checkpoint (...) checkpoint" once
    assert d.use.endswith(f"then pass it as controlnet= when loading {loading} (from_pretrained or from_single_file).")
    assert " a autopipe" not in d.use and "checkpoint) checkpoint" not in d.use


@pytest.mark.parametrize("prefix", ["control_model.", ""])
@pytest.mark.parametrize(
    "width, variant, base",
    [(768, "controlnet-sd1", "Stable Diffusion 1.x"), (1024, "controlnet-sd2", "Stable Diffusion 2.x"), (32, "controlnet-tiny", "autopipe-sd's tiny test checkpoint (cross-attention 32)")],
)
def test_the_original_layout_with_or_without_its_prefix(header, prefix, width, variant, base):
    (d,) = detect(header({prefix + HINT: (16, 3, 3, 3), prefix + LDM_CROSS: (320, width)}))
    _is(d, "stable-diffusion", variant, base)
    assert d.reason == f"original ControlNet layout ({prefix}{HINT}); {prefix}{LDM_CROSS} takes {width}"


def test_the_original_layout_finds_a_cross_attention_elsewhere(header):
    other = "control_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"
    (d,) = detect(header({"control_model." + HINT: (16, 3, 3, 3), other: (640, 768)}))
    assert d.variant == "controlnet-sd1" and d.reason.endswith(f"{other} takes 768")


@pytest.mark.parametrize("width, variant", [(768, "controlnet-sd1"), (1024, "controlnet-sd2"), (32, "controlnet-tiny")])
def test_diffusers_layout_for_sd(header, width, variant):
    (d,) = detect(header({COND: (16, 3, 3, 3), CROSS: (320, width)}))
    assert (d.family, d.variant) == ("stable-diffusion", variant)
    assert d.reason == f"diffusers layout ({COND}); {CROSS} takes {width}"


def test_diffusers_layout_for_sdxl_full_size_and_smaller(header):
    xl = {COND: (16, 3, 3, 3), XL_ADD: (1280, 2816), XL_CROSS: (640, 2048)}
    (large,) = detect(header({**xl, XL_LARGE: (1280, 2048)}))
    _is(large, "stable-diffusion-xl", "controlnet-sdxl", "Stable Diffusion XL")
    assert large.reason == f"diffusers layout; {XL_ADD} is [1280, 2816] and {XL_CROSS} takes 2048; 10 transformer layers in down_blocks.2 (the full-size one)"
    (small,) = detect(header(xl))
    _is(small, "stable-diffusion-xl", "controlnet-sdxl-small", "Stable Diffusion XL", 0.9, shipped=False)
    assert small.reason.endswith("; fewer transformer layers than the full-size one (a mid or small ControlNet)")


@pytest.mark.parametrize(
    "tensors",
    [
        {"control_model." + HINT: (16, 3, 3, 3), "control_model." + LDM_CROSS: (320, 2048)},  # an unknown width
        {"control_model." + HINT: (16, 3, 3, 3)},  # no cross-attention
        {"control_model." + HINT: (16, 3, 3, 3), "control_model." + LDM_CROSS: (320, 768, 1)},  # not a matrix
        {COND: (16, 3, 3, 3), CROSS: (320, 2048)},
        {COND: (16, 3, 3, 3)},
        {COND: (16, 3, 3, 3), XL_ADD: (1280, 2816), XL_CROSS: (640, 1024)},  # SDXL-like with another width
        {COND: (16, 3, 3, 3), XL_ADD: (1280, 2816)},
        {CROSS: (320, 768)},  # a UNet's key alone: not a ControlNet
        {"other." + HINT: (16, 3, 3, 3), LDM_CROSS: (320, 768)},
    ],
)
def test_what_is_not_a_controlnet_it_knows_is_left_alone(header, tensors):
    assert detect(header(tensors)) == []


def test_loading_a_file_that_is_not_a_controlnet_says_what_to_do(tmp_path):
    path = write_header(tmp_path / "unet.safetensors", {"a": ("F16", (2, 2)), "b": ("F16", (3,))})
    with pytest.raises(UnsupportedModelError) as info:
        single_file.from_single_file(str(path))
    assert str(info.value) == f"{path} is not a ControlNet autopipe-controlnet recognises (2 tensors); `autopipe inspect {path}` says what it is"
