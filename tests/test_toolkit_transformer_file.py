"""autopipe_core.toolkit.transformer_file (and single_file.block_count): files that hold a transformer alone: counting blocks from the header,
reading the tensors under a prefix, what a config= folder can give, and the load that takes the rest from the caller or
config=; each one refusing a wrong input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from autopipe_core import UnsupportedModelError
from autopipe_core.headers import read_header, write_header
from autopipe_core.specs import Detection
from autopipe_core.toolkit import single_file as sf
from autopipe_core.toolkit import transformer_file as tf

COMFY = sf.COMFY_PREFIX


def test_block_count_reads_the_highest_number_under_the_prefix(tmp_path):
    names = {f"{COMFY}double_blocks.{i}.attn.weight": ("F16", (2,)) for i in (0, 1, 11)}
    names.update({f"{COMFY}double_blocks.norm.weight": ("F16", (2,)), "double_blocks.40.x": ("F16", (2,)), f"{COMFY}single_blocks.3.w": ("F16", (2,))})
    header = read_header(write_header(tmp_path / "f.safetensors", names))
    assert sf.block_count(header, f"{COMFY}double_blocks.") == 12  # the highest index plus one, not how many were seen
    assert sf.block_count(header, "double_blocks.") == 41
    assert sf.block_count(list(header.tensors), f"{COMFY}single_blocks.") == 4  # any names, not only a header
    assert sf.block_count(header, f"{COMFY}layers.") == 0
    assert sf.block_count(["blocks.7"], "blocks.") == 0  # a number with nothing after it names no tensor of a block


def test_block_count_refuses_a_prefix_without_the_dot_before_the_number():
    with pytest.raises(ValueError, match="ends with the dot"):
        sf.block_count(["blocks.0.w"], "blocks")


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "comfy.safetensors"
    save_file({f"{COMFY}a.weight": torch.ones(2), f"{COMFY}b.bias": torch.zeros(3), "text_encoders.t5.w": torch.ones(4)}, str(path))
    return path


def test_prefixed_tensors_reads_only_what_is_under_the_prefix(tmp_path):
    path = _file(tmp_path)
    stripped = tf.prefixed_tensors(path, COMFY)
    assert sorted(stripped) == ["a.weight", "b.bias"] and torch.equal(stripped["b.bias"], torch.zeros(3))
    assert sorted(tf.prefixed_tensors(path, COMFY, strip=False)) == [f"{COMFY}a.weight", f"{COMFY}b.bias"]
    assert tf.prefixed_tensors(path, "vae.") == {}


def test_prefixed_tensors_passes_the_librarys_error_for_a_file_it_cannot_read(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(Exception) as caught:
        tf.prefixed_tensors(tmp_path / "bad.safetensors", "")
    assert "safetensors" in type(caught.value).__module__ or isinstance(caught.value, (OSError, ValueError))


def test_component_tensors_reads_every_shard_and_refuses_a_folder_without_weights(tmp_path):
    (tmp_path / "transformer").mkdir()
    save_file({"a": torch.ones(1)}, str(tmp_path / "transformer" / "m-00001-of-00002.safetensors"))
    save_file({"b": torch.ones(2)}, str(tmp_path / "transformer" / "m-00002-of-00002.safetensors"))
    assert sorted(tf.component_tensors(tmp_path)) == ["a", "b"]
    (tmp_path / "vae").mkdir()
    with pytest.raises(FileNotFoundError, match="vae holds no .safetensors weights"):
        tf.component_tensors(tmp_path, "vae")


def test_can_give_asks_a_folder_for_files_and_trusts_a_repo_id(tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text("{}")
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer" / "vocab.json").write_text("{}")
    assert tf.can_give("org/some-repo", "vae")  # not a folder here: diffusers finds the repo's files
    assert not tf.can_give(tmp_path, "vae")  # a config alone gives no weights
    assert not tf.can_give(tmp_path, "text_encoder")  # no such sub-folder
    assert not tf.can_give(tmp_path, "tokenizer") and tf.can_give(tmp_path, "tokenizer", ("tokenizer", "vocab"))
    (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    assert tf.can_give(tmp_path, "vae")


class _Pipeline:
    seen: dict = {}

    @classmethod
    def from_pretrained(cls, source, **kwargs):
        cls.seen = {"source": source, **kwargs}
        return "pipeline"


def _spec(root: Path, loads: list) -> tf.TransformerFile:
    shipped = root / "configs" / "big"
    shipped.mkdir(parents=True)
    (shipped / "model_index.json").write_text(json.dumps({"_class_name": "P"}))

    def load_transformer(path, folder, prefix, dtype, local):
        loads.append((path, folder, prefix, dtype, local))
        return "transformer"

    return tf.TransformerFile(
        folders=sf.ConfigFolders(root / "configs", "autopipe-x"), family="x", tiny_variant="x-tiny", holds="an X transformer",
        supplies="T5 and a VAE, e.g. those of org/x", checkpoint="an X diffusers folder or repo id", example="org/x",
        load_transformer=load_transformer,
    )


def test_a_file_with_nothing_to_give_the_rest_is_refused_before_it_is_read(tmp_path):
    loads: list = []
    spec = _spec(tmp_path, loads)
    detection = Detection("x", "big", 0.9, "why", pipeline_class="diffusers:P", config=str(tmp_path / "configs" / "big"), prefixes={"transformer": COMFY})
    with pytest.raises(UnsupportedModelError) as refused:
        tf.load_transformer_file(spec, _Pipeline, "f.safetensors", detection, {"vae": "mine"})
    assert str(refused.value) == (
        "f.safetensors holds an X transformer (big), and nothing gives its text_encoder, tokenizer: pass text_encoder=, tokenizer= "
        "(T5 and a VAE, e.g. those of org/x), or config=<an X diffusers folder or repo id that has them> (such as 'org/x', from "
        "the cache unless local_files_only=False)"
    )
    assert loads == []


def test_the_transformer_from_the_file_the_rest_from_config(tmp_path):
    loads: list = []
    spec = _spec(tmp_path, loads)
    detection = Detection("x", "big", 0.9, "why", pipeline_class="diffusers:P", prefixes={"transformer": COMFY})
    kwargs = {"config": "org/x", "dtype": {"default": "float16", "transformer": "bfloat16"}}
    assert tf.load_transformer_file(spec, _Pipeline, "f.safetensors", detection, kwargs) == "pipeline"
    assert loads == [("f.safetensors", str(tmp_path / "configs" / "big"), COMFY, "bfloat16", True)]
    assert _Pipeline.seen == {"source": "org/x", "dtype": kwargs["dtype"], "transformer": "transformer"}
    assert "config" in kwargs  # the caller's keywords are left as they were


def test_the_callers_transformer_wins_and_config_from_source_reads_its_transformer_config(tmp_path):
    loads: list = []
    spec = _spec(tmp_path, loads)
    every = {"text_encoder": 1, "tokenizer": 2, "vae": 3}
    detection = Detection("x", "big", 0.9, "why", pipeline_class="diffusers:P")
    tf.load_transformer_file(spec, _Pipeline, "f.safetensors", detection, {**every, "transformer": "theirs"})
    assert loads == [] and _Pipeline.seen["transformer"] == "theirs"
    source = tmp_path / "theirs"
    (source / "transformer").mkdir(parents=True)
    (source / "transformer" / "config.json").write_text("{}")

    tf.load_transformer_file(spec._replace(config_from_source=True), _Pipeline, "f.safetensors", detection, {**every, "config": str(source)})
    assert loads[-1][1] == str(source)


def test_a_variant_the_plugin_ships_no_folder_for_is_refused(tmp_path):
    spec = _spec(tmp_path, [])
    with pytest.raises(ValueError, match="autopipe-x ships no config for 'small'"):
        tf.load_transformer_file(spec, _Pipeline, "f.safetensors", Detection("x", "small", 0.9, "why", pipeline_class="diffusers:P"), {})


def test_model_from_file_hands_diffusers_the_config_folder_and_a_dtype_only_when_asked():
    seen = []

    class Model:
        @classmethod
        def from_single_file(cls, weights, **kwargs):
            seen.append((weights, kwargs))
            return "model"

    assert tf.model_from_file(Model, "f.safetensors", Path("cfg")) == "model"
    assert seen[-1] == ("f.safetensors", {"config": "cfg", "subfolder": "transformer", "local_files_only": True})
    tf.model_from_file(Model, {"a": 1}, "cfg", torch.float16, False, subfolder="unet", pos_embed_max_size=64)
    assert seen[-1] == ({"a": 1}, {"config": "cfg", "subfolder": "unet", "local_files_only": False, "torch_dtype": torch.float16, "pos_embed_max_size": 64})
    with pytest.raises(AttributeError):
        tf.model_from_file(object, "f.safetensors", "cfg")  # no from_single_file: not a diffusers model class


def _base_spec(loads: list, **more) -> tf.BaseCheckpoint:
    def load_transformer(path, detection, config, local, dtype):
        loads.append((path, config, local, dtype))
        return "transformer"

    return tf.BaseCheckpoint(
        holds="{family}'s transformer", others=lambda family: ("text_encoder", "vae"), repo=lambda variant: "org/not-cached-anywhere",
        load_transformer=load_transformer, **more,
    )


def test_a_base_that_is_not_in_the_local_cache_is_refused_before_the_file_is_read(tmp_path):
    assert not tf.in_hub_cache("org/not-cached-anywhere")
    loads: list = []
    detection = Detection("fam", "big", 0.9, "why", pipeline_class="diffusers:P", config=str(tmp_path))
    with pytest.raises(UnsupportedModelError) as refused:
        tf.load_from_base(_base_spec(loads), "fam", _Pipeline, "f.safetensors", detection, {})
    assert str(refused.value) == (
        "f.safetensors: the file holds fam's transformer only, and the rest of the pipeline cannot be had from org/not-cached-anywhere "
        "(not in the local Hugging Face cache, and single files load offline). Download org/not-cached-anywhere once "
        "(huggingface-cli download org/not-cached-anywhere), or pass config= a local diffusers folder of the model, or pass "
        "text_encoder=, vae= yourself"
    )
    assert loads == []


def test_the_base_is_the_callers_config_else_the_shipped_folder_when_everything_is_passed(tmp_path):
    loads: list = []
    spec = _base_spec(loads)
    detection = Detection("fam", "big", 0.9, "why", pipeline_class="diffusers:P", config=str(tmp_path / "shipped"))
    caller = tmp_path / "theirs"
    caller.mkdir()
    (tmp_path / "shipped").mkdir()
    tf.load_from_base(spec, "fam", _Pipeline, "f.safetensors", detection, {"config": str(caller), "torch_dtype": torch.float16})
    assert _Pipeline.seen["source"] == str(caller) and _Pipeline.seen["local_files_only"] is True
    assert loads[-1] == ("f.safetensors", str(caller), True, torch.float16)
    tf.load_from_base(spec, "fam", _Pipeline, "f.safetensors", detection, {"config": str(tmp_path / "shipped"), "text_encoder": 1, "vae": 2})
    assert _Pipeline.seen["source"] == str(tmp_path / "shipped") and loads[-1][1] is None  # the shipped config is no caller's config
    tf.load_from_base(spec, "fam", _Pipeline, "f.safetensors", detection, {"text_encoder": 1, "vae": 2, "transformer": "mine"})
    assert _Pipeline.seen["transformer"] == "mine" and len(loads) == 2


def test_the_familys_own_check_and_an_oserror_of_the_base_become_refusals(tmp_path):
    def check(path, base, passed):
        raise UnsupportedModelError(f"{path}: {base} lacks the Llama")

    detection = Detection("fam", "big", 0.9, "why", pipeline_class="diffusers:P", config=str(tmp_path))
    (tmp_path / "x").mkdir()
    with pytest.raises(UnsupportedModelError, match="lacks the Llama"):
        tf.load_from_base(_base_spec([], check=check), "fam", _Pipeline, "f.safetensors", detection, {"config": str(tmp_path / "x")})

    class Broken:
        @classmethod
        def from_pretrained(cls, source, **kwargs):
            raise OSError("no model_index.json")

    with pytest.raises(UnsupportedModelError, match=r"cannot be had from .*\(OSError: no model_index.json\)"):
        tf.load_from_base(_base_spec([]), "fam", Broken, "f.safetensors", detection, {"config": str(tmp_path / "x")})


def test_save_tensors_writes_one_file_behind_the_prefix_in_the_dtype_asked(tmp_path):
    from safetensors.torch import load_file

    tensors = {"a.weight": torch.ones(2, 3).t(), "b": torch.zeros(2, dtype=torch.float64)}  # a non-contiguous view too
    path = tf.save_tensors(tensors, tmp_path / "f.safetensors", prefix=COMFY, dtype="bfloat16")
    back = load_file(path)
    assert sorted(back) == [f"{COMFY}a.weight", f"{COMFY}b"] and {t.dtype for t in back.values()} == {torch.bfloat16}
    kept = load_file(tf.save_tensors(tensors, tmp_path / "g.safetensors"))
    assert kept["b"].dtype == torch.float64 and torch.equal(kept["a.weight"], tensors["a.weight"])
    with pytest.raises(AttributeError):
        tf.save_tensors(tensors, tmp_path / "h.safetensors", dtype="float8_nonsense")


def test_block_count_of_a_header_skips_each_block_and_agrees_with_a_pass_over_every_name(tmp_path):
    """The header's sorted index is read once per block, not once per name: the answer is the plain pass's, on names
    built to trip it (a block's number a prefix of another's, leading zeros, letters, names past a block, a bare
    number, the highest code point right after a block's dot)."""
    import random

    rng = random.Random(20)
    top = chr(0x10FFFF)
    pieces = ["0", "1", "2", "9", "10", "11", "012", "19", "100", "1a", "x", "", top]
    ends = [".", "", ".w", "." + top, ".a.b"]
    for _ in range(200):
        names = {"blocks." + rng.choice(pieces) + rng.choice(ends) for _ in range(rng.randint(0, 12))}
        names |= {"blocks", "other.3.w", "blocksX.4.w"}
        header = read_header(write_header(tmp_path / "m.safetensors", {n: ("F16", [1]) for n in sorted(names)}))
        assert sf.block_count(header, "blocks.") == sf.block_count(sorted(names), "blocks."), sorted(names)
