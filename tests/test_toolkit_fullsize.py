"""autopipe_core.toolkit.fullsize: header-only full-size folders as the planner reads them, shards and their index, configs
re-written the same, models built on the meta device from data; each function refuses what it cannot write."""

from __future__ import annotations

import json

import pytest
import torch

from autopipe_core.headers import read_header
from autopipe_core.toolkit import fullsize


class _Tied(torch.nn.Module):
    """An embedding and a head sharing one weight (as T5's shared/embed_tokens), and a persistent and a non-persistent buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.head = torch.nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight
        self.register_buffer("position_ids", torch.arange(3))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)


def test_state_shapes_lists_a_tied_weight_once_keeps_persistent_buffers_and_skips_what_it_is_told():
    shapes = fullsize.state_shapes(_Tied())
    assert shapes == {"embed.weight": (10, 4), "position_ids": (3,)}
    assert fullsize.state_shapes(_Tied(), skip=lambda name: name.endswith("position_ids")) == {"embed.weight": (10, 4)}
    with pytest.raises(AttributeError):
        fullsize.state_shapes(object())


def test_dump_json_is_sorted_indented_and_the_same_bytes_twice(tmp_path):
    path = fullsize.dump_json(tmp_path / "a" / "b.json", {"z": 1, "a": [1, 2]})
    assert path.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "z": 1\n}\n'
    first = path.read_bytes()
    fullsize.dump_json(path, {"a": [1, 2], "z": 1})
    assert path.read_bytes() == first
    with pytest.raises(TypeError):
        fullsize.dump_json(tmp_path / "c.json", {"x": object()})


def test_one_shard_is_the_plain_file_with_the_true_header(tmp_path):
    (written,) = fullsize.write_weights(tmp_path / "vae", "diffusion_pytorch_model", {"a": (4, 8), "b": (3,)}, "BF16")
    assert written == tmp_path / "vae" / "diffusion_pytorch_model.safetensors"
    header = read_header(written)
    assert {n: (t.dtype, t.shape) for n, t in header.tensors.items()} == {"a": ("BF16", (4, 8)), "b": ("BF16", (3,))}
    assert written.stat().st_size == header.header_bytes + (32 + 3) * 2  # the data is there in size: a hole, never written


def test_shards_split_in_order_with_the_index_the_libraries_read(tmp_path):
    shapes = {f"t{i}": (i + 1,) for i in range(5)}
    written = fullsize.write_weights(tmp_path, "model", shapes, "F32", shards=2)
    names = [p.name for p in written]
    assert names == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"]
    index = json.loads(written[-1].read_text())
    assert index == {"metadata": {}, "weight_map": {"t0": names[0], "t1": names[0], "t2": names[0], "t3": names[1], "t4": names[1]}}
    assert list(read_header(written[1]).tensors) == ["t3", "t4"]


def test_a_weight_variant_and_a_dtype_per_tensor(tmp_path):
    dtype = lambda name: "I64" if name.endswith("num_batches_tracked") else "F16"  # noqa: E731
    written = fullsize.write_weights(tmp_path, "diffusion_pytorch_model", {"bn.num_batches_tracked": (), "w": (2,)}, dtype, shards=2, variant="fp16")
    assert [p.name for p in written] == [
        "diffusion_pytorch_model.fp16-00001-of-00002.safetensors", "diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
        "diffusion_pytorch_model.safetensors.index.fp16.json",
    ]
    assert read_header(written[0]).tensors["bn.num_batches_tracked"].dtype == "I64"
    (single,) = fullsize.write_weights(tmp_path / "one", "model", {"w": (2,)}, "F16", variant="fp16")
    assert single.name == "model.fp16.safetensors"


@pytest.mark.parametrize("shards", [0, -1, 1.5, True])
def test_a_shard_count_that_is_not_a_whole_number_of_files_is_refused_before_writing(tmp_path, shards):
    with pytest.raises(ValueError, match="shards must be a whole number of files"):
        fullsize.write_weights(tmp_path / "x", "model", {"w": (2,)}, "F16", shards=shards)
    assert not (tmp_path / "x").exists()


def test_a_dtype_safetensors_does_not_have_is_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="no safetensors dtype 'float16'"):
        fullsize.write_weights(tmp_path / "x", "model", {"w": (2,)}, "float16")
    with pytest.raises(ValueError, match="'Q4'"):
        fullsize.write_weights(tmp_path / "x", "model", {"w": (2,), "v": (1,)}, lambda n: "Q4" if n == "v" else "F16")
    assert not (tmp_path / "x").exists()


def test_meta_models_builds_on_the_meta_device_and_passes_the_builders_errors():
    def build(name, settings):
        if name == "bad":
            raise KeyError(name)
        return torch.nn.Linear(**settings)

    built = fullsize.meta_models(build, {"proj": {"in_features": 4096, "out_features": 4096}})
    assert built["proj"].weight.device.type == "meta"
    with pytest.raises(KeyError):
        fullsize.meta_models(build, {"bad": {}})


def _vae_config(folder):
    from diffusers import AutoencoderKL

    AutoencoderKL(block_out_channels=(8,), down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",), norm_num_groups=8).save_config(folder / "vae")


def test_a_model_from_its_config_alone_diffusers_or_transformers(tmp_path):
    from transformers import CLIPTextConfig

    _vae_config(tmp_path)
    CLIPTextConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, vocab_size=20, eos_token_id=2, bos_token_id=0, pad_token_id=1).save_pretrained(tmp_path / "text_encoder")
    config = json.loads((tmp_path / "text_encoder" / "config.json").read_text())
    fullsize.dump_json(tmp_path / "text_encoder" / "config.json", {**config, "architectures": ["CLIPTextModel"]})
    vae = fullsize.meta_model_from_config(tmp_path, "vae")
    text = fullsize.meta_model_from_config(tmp_path, "text_encoder")
    assert type(vae).__name__ == "AutoencoderKL" and type(text).__name__ == "CLIPTextModel"
    assert vae.decoder.conv_out.weight.device.type == "meta"
    assert (20, 8) in fullsize.state_shapes(text).values()  # the token embedding, under the name this transformers gives it


def test_a_config_that_names_no_class_or_is_missing_is_refused(tmp_path):
    fullsize.dump_json(tmp_path / "unet" / "config.json", {"in_channels": 4})
    with pytest.raises(KeyError, match="names no class"):
        fullsize.meta_model_from_config(tmp_path, "unet")
    with pytest.raises(FileNotFoundError):
        fullsize.meta_model_from_config(tmp_path, "vae")


def test_save_config_drops_what_depends_on_the_installed_versions(tmp_path):
    import diffusers

    _vae_config(tmp_path)
    model = fullsize.meta_model_from_config(tmp_path, "vae")
    path = fullsize.save_config(model, tmp_path / "out")
    config = json.loads(path.read_text())
    assert config["_class_name"] == "AutoencoderKL" and not set(fullsize.CONFIG_NOISE) & set(config)
    assert diffusers.__version__ not in path.read_text()
    first = path.read_bytes()
    fullsize.save_config(model, tmp_path / "out")
    assert path.read_bytes() == first


def test_write_scheduler_saves_the_class_defaults_and_refuses_an_unknown_class(tmp_path):
    path = fullsize.write_scheduler(tmp_path, "FlowMatchEulerDiscreteScheduler", {"shift": 3.0})
    config = json.loads(path.read_text())
    assert path == tmp_path / "scheduler" / "scheduler_config.json"
    assert (config["_class_name"], config["shift"], config["num_train_timesteps"]) == ("FlowMatchEulerDiscreteScheduler", 3.0, 1000)
    assert "_diffusers_version" not in config
    with pytest.raises(AttributeError):
        fullsize.write_scheduler(tmp_path, "NoSuchScheduler", {})
    with pytest.raises(TypeError):
        fullsize.write_scheduler(tmp_path, "FlowMatchEulerDiscreteScheduler", {"no_such_setting": 1})


def test_importing_the_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = "import sys, autopipe_core.toolkit.fullsize; print([m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
