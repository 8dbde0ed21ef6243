"""The kit's full-size checkpoints without weights: header-only files read back as written, a folder that resolves
and plans, docs/placement.md's rows from it; and a clear error for what cannot be written."""

import json

import pytest
import torch

from autopipe_core.headers import read_header
from autopipe_core.tasks import Task
from autopipe_core.testing import gpu, header_only_checkpoint, header_only_file, isolate, placement_row, placements


def test_tensors_shapes_and_pairs_are_written_as_their_headers(tmp_path):
    with torch.device("meta"):
        tensors = {"a.weight": torch.empty(4, 8, dtype=torch.bfloat16), "b.bias": torch.empty(3, dtype=torch.float32)}
    path = header_only_file(tmp_path / "deep" / "model.safetensors", {**tensors, "c.step": ("I64", (1,))})
    header = read_header(path)
    assert {n: (t.dtype, t.shape) for n, t in header.tensors.items()} == {"a.weight": ("BF16", (4, 8)), "b.bias": ("F32", (3,)), "c.step": ("I64", (1,))}
    assert header.file_size == header.header_bytes + 4 * 8 * 2 + 3 * 4 + 8  # the data: a hole of its exact size
    forced = read_header(header_only_file(tmp_path / "f32.safetensors", tensors, dtype="F32"))
    assert {t.dtype for t in forced.tensors.values()} == {"F32"}
    shapes = read_header(header_only_file(tmp_path / "shapes.safetensors", {"x": (2, 2), "y": [5]}, dtype="F16"))
    assert {n: (t.dtype, t.shape) for n, t in shapes.tensors.items()} == {"x": ("F16", (2, 2)), "y": ("F16", (5,))}


def test_what_is_not_a_tensor_a_shape_or_a_pair_is_refused(tmp_path):
    with pytest.raises(TypeError, match="x: a bare shape"):
        header_only_file(tmp_path / "a.safetensors", {"x": (2, 2)})
    with pytest.raises(TypeError, match="x: str is not a tensor"):
        header_only_file(tmp_path / "b.safetensors", {"x": "F32"})
    with pytest.raises(ValueError, match="safetensors has no dtype for torch.complex64"):
        header_only_file(tmp_path / "c.safetensors", {"x": torch.empty(2, dtype=torch.complex64, device="meta")})


def _auraflow(root, vae_config=None):
    """A small AuraFlow checkpoint folder, every component built on the meta device."""
    from accelerate import init_empty_weights
    from diffusers import AuraFlowTransformer2DModel, AutoencoderKL
    from transformers import UMT5Config, UMT5EncoderModel

    transformer = dict(sample_size=8, patch_size=2, in_channels=4, num_mmdit_layers=1, num_single_dit_layers=1,
                       attention_head_dim=8, num_attention_heads=2, joint_attention_dim=32, caption_projection_dim=16, out_channels=4, pos_embed_max_size=64)
    vae = vae_config or dict(block_out_channels=(8,), down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",), norm_num_groups=8, force_upcast=True)
    umt5 = dict(vocab_size=64, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4)
    with init_empty_weights():
        components = {
            "transformer": ("diffusers", AuraFlowTransformer2DModel(**transformer), {"_class_name": "AuraFlowTransformer2DModel", **transformer}),
            "text_encoder": ("transformers", UMT5EncoderModel(UMT5Config(**umt5)), {"architectures": ["UMT5EncoderModel"], "model_type": "umt5", **umt5}),
            "vae": ("diffusers", AutoencoderKL(**vae), {"_class_name": "AutoencoderKL", **vae}),
        }
    entries = {"scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "tokenizer": ["transformers", "LlamaTokenizerFast"]}
    return header_only_checkpoint(root, "AuraFlowPipeline", components, entries, dtype="F32"), components


def test_a_header_only_folder_is_laid_out_as_diffusers_saves_one_and_resolves(tmp_path, monkeypatch):
    isolate(monkeypatch, "autopipe-auraflow", tmp_path / "cache")
    folder, components = _auraflow(tmp_path / "auraflow")
    index = json.loads((folder / "model_index.json").read_text())
    assert index == {
        "_class_name": "AuraFlowPipeline", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "tokenizer": ["transformers", "LlamaTokenizerFast"], "transformer": ["diffusers", "AuraFlowTransformer2DModel"],
        "text_encoder": ["transformers", "UMT5EncoderModel"], "vae": ["diffusers", "AutoencoderKL"],
    }
    encoder = read_header(folder / "text_encoder" / "model.safetensors")
    assert set(encoder.tensors) == set(components["text_encoder"][1].state_dict())
    assert {t.dtype for t in encoder.tensors.values()} == {"F32"}
    assert json.loads((folder / "vae" / "config.json").read_text())["force_upcast"] is True
    from autopipe_core import resolve

    assert resolve(folder, Task.TEXT2IMG).pipeline_class == "AuraFlowPipeline"



def test_the_state_dict_or_the_parameters_alone(tmp_path):
    norm = ("diffusers", torch.nn.BatchNorm1d(4, device="meta"), {"_class_name": "BatchNorm1d"})
    state = read_header(header_only_checkpoint(tmp_path / "state", "X", {"norm": norm}) / "norm" / "diffusion_pytorch_model.safetensors")
    assert {n: t.dtype for n, t in state.tensors.items()} == {
        "weight": "F32", "bias": "F32", "running_mean": "F32", "running_var": "F32", "num_batches_tracked": "I64",
    }
    alone = header_only_checkpoint(tmp_path / "alone", "X", {"norm": norm}, parameters_only=True)
    assert set(read_header(alone / "norm" / "diffusion_pytorch_model.safetensors").tensors) == {"weight", "bias"}


def test_a_component_of_another_library_is_refused(tmp_path):
    with pytest.raises(ValueError, match="text_encoder: 'onnx' is not a library"):
        header_only_checkpoint(tmp_path / "x", "AuraFlowPipeline", {"text_encoder": ("onnx", torch.nn.Linear(2, 2), {})})


def test_the_placement_table_row_of_a_folder(tmp_path, monkeypatch):
    isolate(monkeypatch, "autopipe-auraflow", tmp_path / "cache")
    from autopipe_core import resolve

    resolution = resolve(_auraflow(tmp_path / "auraflow")[0], Task.TEXT2IMG)
    # A small AuraFlow: any GPU of 4 GiB or more holds it with its 3 GiB allowance; 1 GiB cannot hold the allowance.
    assert placements(resolution) == ["device"] * 7 and placements(resolution, 2) == ["device"] * 7
    assert placements(resolution, budgets=[1]) == ["sequential offload"]
    row = placement_row(resolution, "AuraFlow (small)")
    assert row.startswith("| AuraFlow (small) | 0.00 GiB | ") and row.endswith(" | 3.00 GiB at 1024x1024 | " + " | ".join(["device"] * 7) + " |")
    with pytest.raises(ValueError, match="a GPU needs memory and a count: 0 GiB x 1"):
        placements(resolution, budgets=[0])


def test_a_made_up_gpu():
    assert gpu(16).total_bytes == gpu(16).free_bytes == 16 << 30 and gpu(16, 2).count == 2 and not gpu(16, bf16=False).bf16
    with pytest.raises(ValueError, match="a GPU needs memory and a count"):
        gpu(8, 0)
