"""HiDream-I1 single files: header-only detection against diffusers' own key, the ComfyUI prefix, offline loading, the shipped config's size."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest
import torch

from autopipe_core import AutoPipelineForText2Image, UnsupportedModelError
from autopipe_core.testing import header_only_file
from autopipe_hidream import HIDREAM
from autopipe_hidream.single_file import COMFY_PREFIX, KEY, PATCH_KEY, config_folder, detect
from autopipe_hidream.tiny import hidream_single_file


#: A safetensors file whose header names these tensors with these shapes, in bfloat16 as the releases are; the data is a
#: hole (sparse), never written.
sparse_file = functools.partial(header_only_file, dtype="BF16")


def full_size_transformer() -> dict[str, tuple[int, ...]]:
    """Every tensor of HiDream-I1's transformer with its true shape: the shipped config built on the meta device."""
    from diffusers import HiDreamImageTransformer2DModel

    config = HiDreamImageTransformer2DModel.load_config(config_folder("hidream-i1") / "transformer")
    with torch.device("meta"):
        model = HiDreamImageTransformer2DModel.from_config(config)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def detections(path: Path):
    """This plugin's verdict on the file's header (read as the core reads it: the header alone)."""
    from autopipe_core.single_file import read

    return detect(read(path))


def test_the_key_is_diffusers_own_and_diffusers_knows_no_hidream_pipeline_file():
    """diffusers tells a HiDream file by this key; HiDreamImagePipeline has no from_single_file, the transformer has."""
    from diffusers import HiDreamImagePipeline, HiDreamImageTransformer2DModel
    from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES
    from diffusers.loaders.single_file_utils import CHECKPOINT_KEY_NAMES, infer_diffusers_model_type

    assert CHECKPOINT_KEY_NAMES["hidream"] == KEY and infer_diffusers_model_type({KEY: None}) == "hidream"
    assert not hasattr(HiDreamImagePipeline, "from_single_file") and hasattr(HiDreamImageTransformer2DModel, "from_single_file")
    assert "HiDreamImageTransformer2DModel" in SINGLE_FILE_LOADABLE_CLASSES


def test_a_full_size_file_is_hidream_i1_and_says_full_dev_and_fast_look_the_same(tmp_path):
    tensors = full_size_transformer()
    assert tensors[PATCH_KEY] == (2560, 64) and KEY in tensors
    path = sparse_file(tmp_path / "hidream_i1_dev_bf16.safetensors", tensors)
    assert path.stat().st_size > 34e9  # 17.1 B parameters in bfloat16, a hole on disk
    found = detections(path)
    assert [(d.family, d.variant, d.confidence, d.pipeline_class) for d in found] == [(HIDREAM, "hidream-i1", 0.95, "diffusers:HiDreamImagePipeline")]
    assert "16 dual- and 32 single-stream blocks" in found[0].reason and "Full, Dev and Fast have the same tensors" in found[0].reason
    assert dict(found[0].prefixes) == {"transformer": ""} and "tokenizer_4= and text_encoder_4=" in found[0].reason


def test_comfyuis_prefix_is_found_and_the_rest_of_the_file_left_unread(tmp_path):
    tensors = {COMFY_PREFIX + KEY: (30720,), COMFY_PREFIX + PATCH_KEY: (2560, 64), "text_encoders.t5xxl.shared.weight": (32128, 4096)}
    tensors.update({f"{COMFY_PREFIX}double_stream_blocks.{i}.block.ff_i.gate.weight": (4, 2560) for i in range(16)})
    tensors.update({f"{COMFY_PREFIX}single_stream_blocks.{i}.block.ff_i.gate.weight": (4, 2560) for i in range(32)})
    found = detections(sparse_file(tmp_path / "comfy.safetensors", tensors))
    assert [(d.variant, dict(d.prefixes)) for d in found] == [("hidream-i1", {"transformer": COMFY_PREFIX})]
    assert "its other tensors (1) are not read" in found[0].reason


def test_another_size_is_a_component_with_what_to_do_and_other_files_are_not_claimed(tmp_path):
    odd = detections(sparse_file(tmp_path / "odd.safetensors", {KEY: (3072,), PATCH_KEY: (512, 64)}))
    assert [(d.variant, d.component, d.pipeline_class) for d in odd] == [("hidream-original", "diffusers:HiDreamImageTransformer2DModel", None)]
    assert "HiDreamImageTransformer2DModel.from_single_file(path, config=" in odd[0].use
    assert detections(sparse_file(tmp_path / "flux.safetensors", {"double_blocks.0.img_attn.qkv.weight": (9216, 3072)})) == []
    assert detections(sparse_file(tmp_path / "part.safetensors", {KEY: (30720,)})) == []  # no patch embedding: not a transformer


def test_a_file_whose_base_is_not_at_hand_is_refused_before_its_weights_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hub"))
    path = sparse_file(tmp_path / "hidream_i1_full_bf16.safetensors", full_size_transformer())
    with pytest.raises(UnsupportedModelError) as refusal:
        AutoPipelineForText2Image.from_single_file(str(path))
    message = str(refusal.value)
    assert "HiDream-ai/HiDream-I1-Dev" in message and "config=" in message and "text_encoder_4=, tokenizer=" in message


def test_a_base_without_the_llama_is_refused_before_the_file_is_read(tiny_checkpoint, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(tiny_checkpoint(HIDREAM), base, ignore=shutil.ignore_patterns("text_encoder_4", "tokenizer_4"))
    path = sparse_file(tmp_path / "hidream.safetensors", full_size_transformer())
    with pytest.raises(UnsupportedModelError, match=r"has no text_encoder_4, tokenizer_4: pass tokenizer_4=transformers\.AutoTokenizer"):
        AutoPipelineForText2Image.from_single_file(str(path), config=str(base))


def test_a_comfyui_checkpoint_with_the_prefix_loads_and_holds_the_same_weights(tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint(HIDREAM)
    path = hidream_single_file(folder, tmp_path / "tiny_comfy.safetensors", prefix=COMFY_PREFIX, dtype="float32")
    pipe = AutoPipelineForText2Image.from_single_file(str(path))
    reference = AutoPipelineForText2Image.from_pretrained(folder)
    assert type(pipe).__name__ == "HiDreamImagePipeline"
    ours, theirs = pipe.transformer.state_dict(), reference.transformer.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_the_full_size_transformer_has_hidream_i1s_published_size():
    """17 B parameters (HiDream-I1's technical report, arXiv 2505.22705): the shipped config's transformer, counted on the meta device."""
    count = sum(torch.Size(shape).numel() for shape in full_size_transformer().values())
    assert 17.0e9 < count < 17.2e9
