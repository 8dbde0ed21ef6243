"""Stable Cascade's Stage B and C single files: the shipped configs are the published architectures, each stage is told
apart from its header alone (full size as header-only files, the tiny ones as real files), refused as a pipeline with
how to pass it, and loaded offline and run as decoder= or prior_prior=."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from autopipe_cascade import architectures, single_file
from autopipe_core import AutoPipelineForText2Image, UnsupportedModelError, resolve
from autopipe_core.headers import write_header
from autopipe_core.single_file import detect, read

FAST = {"num_inference_steps": 2, "prior_num_inference_steps": 2, "height": 128, "width": 128, "output_type": "np"}


def original_layout(state: dict, stage_c: bool) -> dict:
    """A diffusers StableCascadeUNet state dict in Stability AI's layout: what diffusers' converter takes back
    (convert_stable_cascade_unet_single_file_to_diffusers): attention as one in_proj, Stage B's pooled mapper as clip_mapper."""
    out = {}
    for key, value in state.items():
        if key.endswith(".attention.to_q.weight") or key.endswith(".attention.to_q.bias"):
            kind = key.rpartition(".")[2]
            stem = key[: -len(f"to_q.{kind}")]
            out[f"{stem}attn.in_proj_{kind}"] = torch.cat([state[f"{stem}to_q.{kind}"], state[f"{stem}to_k.{kind}"], state[f"{stem}to_v.{kind}"]])
        elif ".attention.to_k." in key or ".attention.to_v." in key:
            continue
        elif ".attention.to_out.0." in key:
            out[key.replace("attention.to_out.0.", "attention.attn.out_proj.")] = value
        elif not stage_c and key.startswith("clip_txt_pooled_mapper."):
            out[key.replace("clip_txt_pooled_mapper.", "clip_mapper.")] = value
        else:
            out[key] = value
    return out


def _meta_model(variant):
    from diffusers import StableCascadeUNet

    with torch.device("meta"):
        return StableCascadeUNet(**architectures.ARCHITECTURES[variant])


# -- the shipped configs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(architectures.ARCHITECTURES))
def test_each_shipped_config_is_its_architecture_and_builds_the_model(variant):
    shipped = json.loads((Path(single_file.CONFIGS) / variant / "config.json").read_text())
    assert shipped == json.loads(json.dumps(architectures.config(variant)))
    model = _meta_model(variant)
    state = model.state_dict()
    # what detection compares: the facts a built model's tensors show are the ones read off its config
    assert single_file.facts(state, lambda k: tuple(state[k].shape) if k in state else None) == single_file.config_facts(shipped)


@pytest.mark.parametrize("variant, published", list(architectures.PUBLISHED_PARAMETERS.items()))
def test_the_full_size_configs_have_the_published_sizes(variant, published):
    parameters = sum(p.numel() for p in _meta_model(variant).parameters())
    assert abs(parameters - published) / published < 0.05, parameters


def test_the_real_configs_agree_where_the_corpus_is_present():
    from pathlib import Path

    real = Path(__file__).resolve().parents[4] / "shared" / "real_configs"
    pairs = {"stage-b": "stable-cascade/decoder", "stage-b-lite": "stable-cascade/decoder_lite",
             "stage-c": "stable-cascade-prior/prior", "stage-c-lite": "stable-cascade-prior/prior_lite"}
    if not (real / "stable-cascade").is_dir():
        pytest.skip(f"the real-config corpus is not at {real}")
    for variant, folder in pairs.items():
        config = json.loads((real / folder / "config.json").read_text())
        mine = architectures.config(variant)
        assert {k: v for k, v in config.items() if not k.startswith("_")} == {k: v for k, v in mine.items() if not k.startswith("_")}, variant


# -- detection from headers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["stage-b", "stage-b-lite", "stage-c", "stage-c-lite"])
def test_a_full_size_stage_in_the_original_layout_is_told_from_its_header(variant, tmp_path):
    """Header-only files with the true names and shapes of Stability AI's stage_b.safetensors ... stage_c_lite (bf16)."""
    stage_c = variant.startswith("stage-c")
    shapes = {k: v.shape for k, v in _meta_model(variant).state_dict().items()}
    meta_state = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    original = original_layout(meta_state, stage_c)
    path = write_header(tmp_path / f"{variant}.safetensors", {k: ("BF16", tuple(v.shape)) for k, v in original.items()})
    best = detect(read(path)).best
    assert best is not None and (best.family, best.variant, best.plugin) == ("cascade", variant, "autopipe-cascade")
    assert best.component == single_file.COMPONENT and best.pipeline_class is None
    assert best.config == str(Path(single_file.CONFIGS) / variant) and "original layout" in best.reason
    keyword = "prior_prior=" if stage_c else "decoder="
    with pytest.raises(UnsupportedModelError) as err:
        resolve(path, "text2img")
    assert best.use in str(err.value) and keyword in best.use


def test_a_stage_whose_architecture_matches_no_config_is_not_claimed(tmp_path):
    state = {k: torch.empty(v.shape, device="meta") for k, v in _meta_model("stage-c").state_dict().items()}
    state["down_blocks.1.72.channelwise.0.weight"] = torch.empty((8192, 2048), device="meta")  # a 73rd block
    path = write_header(tmp_path / "odd.safetensors", {k: ("BF16", tuple(v.shape)) for k, v in state.items()})
    assert single_file.detect(read(path)) is None
    other = write_header(tmp_path / "sd.safetensors", {"model.diffusion_model.input_blocks.0.0.weight": ("F16", (320, 4, 3, 3))})
    assert single_file.detect(read(other)) is None


# -- the tiny stages, loaded and run -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_stage_files(tiny_cascade, tmp_path_factory):
    """The tiny checkpoint's Stage B and C as single files in the original layout."""
    from diffusers import StableCascadeUNet
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("stages")
    out = {}
    for variant, where in (("stage-b-tiny", tiny_cascade / "decoder"), ("stage-c-tiny", tiny_cascade / "prior" / "prior")):
        model = StableCascadeUNet.from_pretrained(where)
        state = {k: v.contiguous() for k, v in original_layout(model.state_dict(), variant.startswith("stage-c")).items()}
        save_file(state, folder / f"{variant}.safetensors")
        out[variant] = (folder / f"{variant}.safetensors", model)
    return out


@pytest.mark.parametrize("variant, keyword", [("stage-b-tiny", "decoder"), ("stage-c-tiny", "prior_prior")])
def test_a_tiny_stage_is_detected_loaded_offline_and_runs_passed_by_its_keyword(variant, keyword, tiny_stage_files, tiny_cascade):
    from diffusers import StableCascadeUNet

    path, saved = tiny_stage_files[variant]
    best = detect(read(path)).best
    assert (best.variant, best.component) == (variant, single_file.COMPONENT)
    model = StableCascadeUNet.from_single_file(str(path), config=best.config, local_files_only=True)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), saved.state_dict().values()))
    pipe = AutoPipelineForText2Image.from_pretrained(tiny_cascade, **{keyword: model})
    assert getattr(pipe, keyword) is model
    pipe.set_progress_bar_config(disable=True)
    images = pipe("a red fox", generator=torch.Generator().manual_seed(0), **FAST).images
    assert images.shape == (1, 128, 128, 3) and np.isfinite(images).all()
