"""Krea 2 single files: the layout against diffusers' converter, detection from full-size headers, what is refused, offline loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import autopipe_krea2 as krea2
from autopipe_core import AutoPipelineForText2Image, UnsupportedModelError
from autopipe_core.single_file import detect, read
from autopipe_core.testing import header_only_file
from autopipe_krea2 import layout, tiny
from autopipe_krea2.single_file import FOLDERS

SMALL = {"height": 64, "width": 64, "max_sequence_length": 32, "num_inference_steps": 2}


def _full_size(tmp_path: Path, prefix: str = "", extra: dict | None = None, **changes) -> Path:
    """Krea 2's transformer (the shipped config, 12.8 B parameters) in Krea's layout, bfloat16, header only."""
    from accelerate import init_empty_weights
    from diffusers import Krea2Transformer2DModel

    with init_empty_weights():
        model = Krea2Transformer2DModel.from_config({**FOLDERS.config("krea2", "transformer"), **changes})
    state = {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    tensors = {prefix + k: v for k, v in layout.original(state).items()}
    tensors.update(extra or {})
    return header_only_file(tmp_path / "krea2.safetensors", tensors)


# The layout, against diffusers' own converter and detection


def test_the_original_layout_converts_back_to_the_very_state_dict_diffusers_started_from():
    from diffusers.loaders.single_file_utils import convert_krea2_transformer_checkpoint_to_diffusers as convert

    state = tiny.transformer().state_dict()
    for prefix in ("", layout.COMFY_PREFIX):
        back = convert({prefix + name: t for name, t in layout.original(state).items()})
        assert set(back) == set(state) and all(torch.equal(back[name], state[name]) for name in state), prefix


def test_diffusers_calls_the_files_this_plugin_claims_krea2():
    from diffusers.loaders.single_file_utils import CHECKPOINT_KEY_NAMES, infer_diffusers_model_type

    assert set(CHECKPOINT_KEY_NAMES["krea2"]) == {layout.DETECT_KEY, layout.COMFY_PREFIX + layout.DETECT_KEY}
    state = layout.original(tiny.transformer().state_dict())
    assert infer_diffusers_model_type(state) == "krea2"


# Detection from full-size headers


def test_a_full_size_file_is_krea2_from_its_header_alone(tmp_path):
    path = _full_size(tmp_path)
    assert path.stat().st_blocks * 512 < 1 << 20  # a hole: nothing but the header was written
    best = detect(read(path)).best
    assert (best.family, best.variant, best.pipeline_class) == (krea2.KREA2, "krea2", "diffusers:Krea2Pipeline")
    assert best.config == str(FOLDERS.folder("krea2")) and "28 blocks, text 2560 wide, 12 tapped layers" in best.reason
    assert "is_distilled=True" in best.reason


def test_comfyuis_prefix_is_read_and_the_files_other_tensors_left_alone(tmp_path):
    extra = {"text_encoders.qwen3vl.model.embed_tokens.weight": torch.empty(8, 4, dtype=torch.bfloat16, device="meta")}
    best = detect(read(_full_size(tmp_path, prefix=layout.COMFY_PREFIX, extra=extra))).best
    assert (best.variant, best.prefixes["transformer"]) == ("krea2", layout.COMFY_PREFIX)
    assert "ComfyUI's layout" in best.reason and "its other tensors (1) are not read" in best.reason


def test_a_krea2_transformer_of_another_size_is_recognised_as_a_component_to_load_by_hand(tmp_path):
    best = detect(read(_full_size(tmp_path, num_layers=3))).best
    assert (best.family, best.variant, best.pipeline_class, best.component) == (
        krea2.KREA2, "krea2-original", None, "diffusers:Krea2Transformer2DModel")
    assert "Krea2Transformer2DModel.from_single_file" in best.use


def test_a_file_without_krea2s_text_fusion_is_not_claimed(tmp_path):
    state = {k: v for k, v in layout.original(tiny.transformer().state_dict()).items() if not k.startswith("txtfusion.")}
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "other.safetensors"))
    from autopipe_krea2.single_file import detect as ours

    assert ours(read(tmp_path / "other.safetensors")) == []


def test_a_full_size_file_without_its_encoder_and_vae_is_refused_saying_what_to_pass(tmp_path):
    with pytest.raises(UnsupportedModelError, match="pass text_encoder=, tokenizer=, vae=.*config=") as refusal:
        AutoPipelineForText2Image.from_single_file(str(_full_size(tmp_path)))
    assert "krea/Krea-2-Raw" in str(refusal.value)


# Offline loads of the tiny files


def test_a_comfyui_file_with_other_tensors_loads_its_transformer_and_runs(tiny_checkpoint, tmp_path):
    from safetensors.torch import load_file, save_file

    path = tiny.krea2_single_file(tiny_checkpoint(krea2.KREA2), tmp_path / "comfy.safetensors", prefix=layout.COMFY_PREFIX)
    tensors = load_file(str(path))
    tensors["vae.decoder.conv_in.weight"] = torch.zeros(2, 2)  # ComfyUI checkpoints carry more than the diffusion model
    save_file(tensors, str(path))
    pipe = AutoPipelineForText2Image.from_single_file(str(path), is_distilled=True)
    assert type(pipe).__name__ == "Krea2Pipeline" and pipe.config.is_distilled is True
    assert pipe.transformer.dtype == torch.float32 and pipe.transformer.config.num_layers == 2
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a red fox", guidance_scale=0.0, **SMALL).images[0].size == (64, 64)
