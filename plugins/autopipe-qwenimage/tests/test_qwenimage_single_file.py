"""Qwen-Image single files: header-only detection, the ComfyUI prefix, offline loading, and the shipped configs' numbers."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
import torch

from autopipe_core import AutoPipelineForText2Image, UnsupportedModelError
from autopipe_core.testing import header_only_file, json_files
from autopipe_qwenimage import FAMILY, LAYERED, QWENIMAGE21
from autopipe_qwenimage.single_file import COMFY_PREFIX, config_folder, detect, transformer_file

PLUGIN = Path(__file__).resolve().parents[1]


#: A safetensors file whose header names these tensors with these shapes, in bfloat16 as the releases are; the data is a
#: hole (sparse), never written.
sparse_file = functools.partial(header_only_file, dtype="BF16")


QWENIMAGE = {"txt_norm.weight": (3584,), "img_in.weight": (3072, 64), "transformer_blocks.0.img_mod.1.weight": (18432, 3072)}


def detections(path: Path):
    """This plugin's verdict on the file's header (read as the core reads it: the header alone)."""
    from autopipe_core.single_file import read

    return detect(read(path))


def test_a_qwen_image_transformer_file_is_the_base_and_says_edit_files_look_the_same(tmp_path):
    found = detections(sparse_file(tmp_path / "qwen_image_bf16.safetensors", QWENIMAGE))
    assert [(d.family, d.variant, d.confidence, d.pipeline_class) for d in found] == [(FAMILY, "qwen-image", 0.95, "diffusers:QwenImagePipeline")]
    assert "Qwen-Image-Edit" in found[0].reason and "text_encoder, tokenizer, vae" in found[0].reason
    assert dict(found[0].prefixes) == {"transformer": ""}


def test_comfyui_prefix_and_the_layered_condition(tmp_path):
    tensors = {COMFY_PREFIX + k: v for k, v in {**QWENIMAGE, "time_text_embed.addition_t_embedding.weight": (2, 3072)}.items()}
    found = detections(sparse_file(tmp_path / "layered.safetensors", tensors))
    assert [(d.family, d.variant) for d in found] == [(LAYERED, "qwen-image-layered")]
    assert dict(found[0].prefixes) == {"transformer": COMFY_PREFIX}


def test_qwen_image_21_by_diffusers_key(tmp_path):
    found = detections(sparse_file(tmp_path / "q21.safetensors", {"txt_in.text_norm.weight": (4096,), "img_in.weight": (4096, 64)}))
    assert [(d.family, d.variant, d.pipeline_class) for d in found] == [(QWENIMAGE21, "qwen-image-2.1", "diffusers:QwenImage21Pipeline")]


def test_other_files_are_not_claimed(tmp_path):
    assert detections(sparse_file(tmp_path / "flux.safetensors", {"double_blocks.0.img_attn.qkv.weight": (9216, 3072)})) == []
    # a text norm alone is not a Qwen-Image transformer
    assert detections(sparse_file(tmp_path / "part.safetensors", {"txt_norm.weight": (3584,)})) == []


def test_a_file_whose_base_is_not_at_hand_is_refused_before_its_weights_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hub"))
    path = sparse_file(tmp_path / "qwen_image_bf16.safetensors", QWENIMAGE)
    with pytest.raises(UnsupportedModelError) as refusal:
        AutoPipelineForText2Image.from_single_file(str(path))
    message = str(refusal.value)
    assert "Qwen/Qwen-Image" in message and "config=" in message and "text_encoder=, tokenizer=, vae=" in message


def test_a_comfyui_checkpoint_with_the_prefix_loads_and_holds_the_same_weights(tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint(FAMILY)
    path = transformer_file(folder, tmp_path / "tiny_comfy.safetensors", prefix=COMFY_PREFIX)
    pipe = AutoPipelineForText2Image.from_single_file(str(path))
    reference = AutoPipelineForText2Image.from_pretrained(folder)
    assert type(pipe).__name__ == "QwenImagePipeline"
    ours, theirs = pipe.transformer.state_dict(), reference.transformer.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


# The shipped configs, from published numbers


def _regenerated(tmp_path: Path) -> dict[str, Path]:
    sys.path.insert(0, str(PLUGIN / "scripts"))
    try:
        import write_configs
    finally:
        sys.path.remove(str(PLUGIN / "scripts"))
    specs = {**write_configs.FOLDERS, "tiny": write_configs.tiny_folder()}
    return {name: write_configs.write(name, spec, tmp_path) for name, spec in specs.items()}


def test_the_shipped_configs_are_what_the_published_numbers_give(tmp_path):
    for name, fresh in _regenerated(tmp_path).items():
        shipped = config_folder(name)
        # every file, and each the same but for the diffusers version that wrote it
        assert json_files(shipped, ignore=["_diffusers_version"]) == json_files(fresh, ignore=["_diffusers_version"]), name


def _parameters(folder: Path, cls_name: str) -> int:
    import diffusers

    cls = getattr(diffusers, cls_name)
    with torch.device("meta"):
        model = cls.from_config(cls.load_config(folder / "transformer"))
    return sum(p.numel() for p in model.parameters())


def test_the_full_size_transformer_has_qwen_images_published_size():
    """20 B parameters (the Qwen-Image technical report's MMDiT; Comfy-Org's qwen_image_bf16.safetensors is 40.9 GB in bfloat16)."""
    count = _parameters(config_folder("qwen-image"), "QwenImageTransformer2DModel")
    assert 20.3e9 < count < 20.6e9 and abs(2 * count - 40.9e9) < 0.1e9
    layered = _parameters(config_folder("qwen-image-layered"), "QwenImageTransformer2DModel")
    assert layered - count == 2 * 3072  # the RGB/RGBA embedding, nothing else
