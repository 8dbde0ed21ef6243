"""Sana single files: the shipped configs against published sizes, detection from full-size headers, what is refused, offline loads."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch

import autopipe_pixart as pixart
from autopipe_core import AutoPipelineForText2Image, DeviceFacts, GiB, Task, UnsupportedModelError, resolve
from autopipe_core.planning import plan as plan_placement
from autopipe_core.single_file import detect, read
from autopipe_core.testing import header_only_file
from autopipe_pixart.layout import COMFY_PREFIX, sana_original
from autopipe_pixart.single_file import FOLDERS, config_folder
from autopipe_pixart.tiny import pipeline as tiny_pipeline
from autopipe_pixart.tiny import sana_single_file

#: The Sana paper's Table 1 (arXiv 2410.10629): Sana-0.6B 590M and Sana-1.6B 1604M transformer parameters.
PUBLISHED = {"600m": 590_000_000, "1600m": 1_604_000_000}
FULL_SIZE = [name for name in FOLDERS.names() if name != "sana-tiny"]


def _meta_transformer(config: dict):
    """A SanaTransformer2DModel of this config on the meta device, built once per config (a 4K one computes 16,384 sincos positions)."""
    return _built(json.dumps(config, sort_keys=True))


@functools.lru_cache(maxsize=None)
def _built(config: str):
    from accelerate import init_empty_weights
    from diffusers import SanaTransformer2DModel

    with init_empty_weights():
        return SanaTransformer2DModel.from_config(json.loads(config))


def _full_size_file(tmp_path: Path, variant: str, prefix: str = "", **changes) -> Path:
    """The original-layout header of a shipped variant's transformer at its real shapes (bfloat16, as the BF16 releases)."""
    config = {**FOLDERS.config(variant, "transformer"), **changes}
    state = {k: v.to(torch.bfloat16) for k, v in _meta_transformer(config).state_dict().items()}
    side = config["sample_size"] // config["patch_size"]
    tensors = sana_original(state, side, config["caption_channels"])
    return header_only_file(tmp_path / f"{variant}.safetensors", {prefix + k: v for k, v in tensors.items()})


def _best(path: Path):
    return detect(read(path)).best


# The shipped configs, against the published architecture


@pytest.mark.parametrize("variant", FULL_SIZE)
def test_each_shipped_transformer_config_has_the_published_parameter_count(variant):
    count = sum(p.numel() for p in _meta_transformer(FOLDERS.config(variant, "transformer")).parameters())
    published = PUBLISHED[variant.split("-")[1]]
    if published == PUBLISHED["1600m"]:
        assert round(count / 1e6) == 1604  # 1,604,462,752
    else:  # 591,747,872: the paper's "590M" rounds (the same arithmetic gives the 1.6B model to the million)
        assert abs(count - published) / published < 0.005


def test_the_shipped_folders_say_how_sana_draws_at_each_size():
    """diffusers' conversion settings: sincos positions only from 2K (interpolation 1.0) and 4K (2.0), flow shift 6 at 4K, else 3."""
    for variant in FULL_SIZE:
        transformer, scheduler = FOLDERS.config(variant, "transformer"), json.loads((config_folder(variant) / "scheduler/scheduler_config.json").read_text())
        size = variant.rsplit("-", 1)[1]
        assert transformer["sample_size"] * 32 == {"512": 512, "1024": 1024, "2k": 2048, "4k": 4096}[size]
        assert transformer["interpolation_scale"] == {"2k": 1.0, "4k": 2.0}.get(size)
        assert scheduler["flow_shift"] == (6.0 if size == "4k" else 3.0) and scheduler["use_flow_sigmas"] is True


# Detection from the header alone, at full size (header-only files: nothing but the header is read)


@pytest.mark.parametrize("variant", FULL_SIZE)
def test_each_full_size_transformer_is_detected_as_its_variant(tmp_path, variant):
    best = _best(_full_size_file(tmp_path, variant))
    assert (best.plugin, best.family, best.variant, best.pipeline_class) == ("autopipe-pixart", pixart.SANA, variant, "diffusers:SanaPipeline")
    assert best.confidence == 0.95 and Path(best.config) == config_folder(variant)
    assert "pass text_encoder=, tokenizer= and vae=" in best.reason


def test_a_comfyui_prefixed_file_is_detected_too(tmp_path):
    best = _best(_full_size_file(tmp_path, "sana-600m-512", prefix=COMFY_PREFIX))
    assert best.variant == "sana-600m-512" and best.prefixes["transformer"] == COMFY_PREFIX


def test_a_size_with_no_shipped_config_is_recognised_and_refused_saying_what_to_pass(tmp_path):
    path = _full_size_file(tmp_path, "sana-600m-1024", sample_size=64)  # Sana 0.6B at 2K: not a release
    best = _best(path)
    assert best.component == "diffusers:SanaTransformer2DModel" and best.variant == "sana-original"
    with pytest.raises(UnsupportedModelError, match="from_single_file.*config=<the diffusers repo it was trained from>"):
        resolve(path, Task.TEXT2IMG)


def test_a_full_size_file_resolves_with_pag_and_plans_the_transformer_from_its_header(tmp_path):
    path = _full_size_file(tmp_path, "sana-1600m-1024")
    assert resolve(path, Task.TEXT2IMG, enable_pag=True).pipeline_class == "SanaPAGPipeline"
    placed = plan_placement(resolve(path, Task.TEXT2IMG), DeviceFacts("cuda", 1, 40 * GiB, 80 * GiB, True))
    transformer = placed.footprint.component("transformer")
    # Every tensor of the file: the 1,604,462,752 parameters diffusers loads, and the pos_embed and null-caption buffers it drops.
    assert transformer.parameters == 1_604_462_752 + 1024 * 2240 + 300 * 2304 and transformer.dtype == "bfloat16"
    assert {c.name for c in placed.footprint.unknown} == {"text_encoder", "vae"}  # not in the file: the rules wait for them


def test_a_full_size_file_without_the_other_components_is_refused_before_its_weights_are_read(tmp_path):
    path = _full_size_file(tmp_path, "sana-1600m-1024")  # its data is a hole: reading it would load zeros
    with pytest.raises(UnsupportedModelError, match="holds a Sana transformer alone.*pass text_encoder=, tokenizer=, vae="):
        AutoPipelineForText2Image.from_single_file(str(path))


# What diffusers' converter cannot load is refused, saying what loads it


@pytest.mark.parametrize("changes, family, words", [
    ({"qk_norm": "rms_norm_across_heads"}, pixart.SANA, "SANA 1.5.*drops its query/key norms"),
    ({"qk_norm": "rms_norm_across_heads", "guidance_embeds": True}, pixart.SANA_SPRINT, "Sana Sprint.*drops its guidance embedder"),
])
def test_sana_15_and_sprint_files_are_refused(tmp_path, tiny_checkpoint, changes, family, words):
    path = sana_single_file(tiny_checkpoint(pixart.SANA), tmp_path / "file.safetensors", **changes)
    best = _best(path)
    assert (best.family, best.component) == (family, "diffusers:SanaTransformer2DModel")
    with pytest.raises(UnsupportedModelError, match=words):
        resolve(path, Task.TEXT2IMG)


@pytest.mark.parametrize("changes", [{"qk_norm": "rms_norm_across_heads"}, {"qk_norm": "rms_norm_across_heads", "guidance_embeds": True}])
def test_diffusers_converter_still_drops_what_15_and_sprint_files_need(changes):
    """Why those files are refused: diffusers 0.42.1's conversion loses tensors (when this fails, it can load them: claim them)."""
    from diffusers.loaders.single_file_utils import convert_sana_transformer_to_diffusers

    from autopipe_pixart.tiny import sana_transformer

    state = sana_transformer(**changes).state_dict()
    converted = convert_sana_transformer_to_diffusers(sana_original(state, 16, 32))
    assert set(state) - set(converted)


def test_pixart_original_files_are_refused_saying_diffusers_has_no_loader(tmp_path):
    """PixArt's original layout shares Sana's cross-attention names (diffusers' own check would call it "sana"): told apart by its MLP."""
    tensors = {
        "x_embedder.proj.weight": torch.empty(1152, 4, 2, 2, device="meta"),
        "blocks.0.cross_attn.q_linear.weight": torch.empty(1152, 1152, device="meta"),
        "blocks.0.mlp.fc1.weight": torch.empty(4608, 1152, device="meta"),
        "csize_embedder.mlp.0.weight": torch.empty(1152, 256, device="meta"),
    }
    path = header_only_file(tmp_path / "pixart.safetensors", tensors)
    best = _best(path)
    assert (best.family, best.component) == (pixart.PIXART_ALPHA, "diffusers:PixArtTransformer2DModel")
    with pytest.raises(UnsupportedModelError, match="no single-file loader for PixArt.*convert_pixart_alpha_to_diffusers"):
        resolve(path, Task.TEXT2IMG)


# Loading offline: the transformer from the file, the rest from the caller or config=


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory, tiny_checkpoint):
    return sana_single_file(tiny_checkpoint(pixart.SANA), tmp_path_factory.mktemp("file") / "sana_tiny.safetensors")


def test_the_original_layout_round_trips_through_diffusers_converter(tiny_checkpoint):
    from diffusers import SanaTransformer2DModel
    from diffusers.loaders.single_file_utils import convert_sana_transformer_to_diffusers

    state = SanaTransformer2DModel.from_pretrained(tiny_checkpoint(pixart.SANA), subfolder="transformer").state_dict()
    converted = convert_sana_transformer_to_diffusers(sana_original(state, 16, 32))
    assert converted.keys() == state.keys() and all(torch.equal(converted[k], state[k]) for k in state)


def test_the_tiny_file_loads_with_the_components_passed(tiny_file, tiny_checkpoint):
    from diffusers import SanaTransformer2DModel

    given = tiny_pipeline(pixart.SANA, seed=1)  # other weights than the tiny checkpoint's: what is passed is what loads
    pipe = AutoPipelineForText2Image.from_single_file(str(tiny_file), text_encoder=given.text_encoder, tokenizer=given.tokenizer, vae=given.vae)
    assert type(pipe).__name__ == "SanaPipeline" and pipe.text_encoder is given.text_encoder and pipe.vae is given.vae
    expected = SanaTransformer2DModel.from_pretrained(tiny_checkpoint(pixart.SANA), subfolder="transformer").state_dict()
    assert all(torch.equal(pipe.transformer.state_dict()[k], expected[k]) for k in expected)
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a fox", num_inference_steps=2, height=64, width=64, use_resolution_binning=False).images[0].size == (64, 64)


def test_config_naming_a_sana_folder_gives_the_rest_and_pag_selects_its_class(tiny_file, tiny_checkpoint):
    folder = tiny_checkpoint(pixart.SANA)
    pipe = AutoPipelineForText2Image.from_single_file(str(tiny_file), config=str(folder), enable_pag=True, dtype=torch.bfloat16)
    assert type(pipe).__name__ == "SanaPAGPipeline"
    assert {pipe.transformer.dtype, pipe.text_encoder.dtype, pipe.vae.dtype} == {torch.bfloat16}
