"""Lumina single files: the layout against diffusers' converter, detection from full-size headers, what is refused, offline loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import autopipe_lumina as lumina
from autopipe_core import AutoPipelineForText2Image, DeviceFacts, GiB, Task, UnsupportedModelError, resolve
from autopipe_core.planning import plan as plan_placement
from autopipe_core.single_file import detect, read
from autopipe_core.testing import header_only_file
from autopipe_lumina.layout import COMFY_PREFIX, original
from autopipe_lumina.single_file import DEFAULT_REPO, FOLDERS, config_folder, transformer_weights
from autopipe_lumina.tiny import lumina2_single_file, lumina2_transformer, single_file_transformer

#: Alpha-VLLM/Lumina-Image-2.0's transformer as published: two float32 shards of 9.96 GB and 482 MB (the hub's figures).
PUBLISHED_TRANSFORMER_BYTES = 9.96e9 + 0.482e9


def _meta(config: dict, cls: str = "Lumina2Transformer2DModel"):
    import diffusers
    from accelerate import init_empty_weights

    with init_empty_weights():
        return getattr(diffusers, cls).from_config(config)


def _original_meta(config: dict) -> dict:
    """The authors' layout of a meta transformer of `config`, in bfloat16 (as ComfyUI's and kohya's releases), without data."""
    state = {k: v.to(torch.bfloat16) for k, v in _meta(config).state_dict().items()}
    return original(state, config)  # torch.cat of meta tensors: the fused shapes, no data


def _full_size(tmp_path: Path, prefix: str = "", extra: dict | None = None, **changes) -> Path:
    config = {**FOLDERS.config("lumina2-2b", "transformer"), **changes}
    tensors = {prefix + k: v for k, v in _original_meta(config).items()}
    tensors.update(extra or {})
    return header_only_file(tmp_path / "lumina2.safetensors", tensors)


@pytest.fixture(scope="module")
def wide():
    """The 2304-wide transformer the tiny single file holds (66 M parameters), built once for the module."""
    return single_file_transformer()


def _best(path: Path):
    return detect(read(path)).best


# The layout, against diffusers' own converter


def test_the_original_layout_is_what_diffusers_converter_reads_back_exactly(wide):
    from diffusers.loaders.single_file_utils import convert_lumina2_to_diffusers

    state = wide.state_dict()
    back = convert_lumina2_to_diffusers(original(state, wide.config))
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)


def test_diffusers_converter_reads_only_lumina_image_2s_attention_widths():
    """Why the tiny file's transformer is 2304 wide: a 32-wide one, in the same layout, breaks diffusers' converter."""
    from diffusers.loaders.single_file_utils import convert_lumina2_to_diffusers

    model = lumina2_transformer()
    with pytest.raises(RuntimeError, match="split_with_sizes"):
        convert_lumina2_to_diffusers(original(model.state_dict(), model.config))


def test_the_shipped_transformer_config_has_the_published_size():
    count = sum(p.numel() for p in _meta(FOLDERS.config("lumina2-2b", "transformer")).parameters())
    assert abs(4 * count - PUBLISHED_TRANSFORMER_BYTES) / PUBLISHED_TRANSFORMER_BYTES < 0.005  # 2.61 B parameters in float32


# Detection from the header alone, at full size


@pytest.mark.parametrize("prefix", ["", COMFY_PREFIX])
def test_a_full_size_lumina_image_2_file_is_detected_bare_or_under_comfyuis_prefix(tmp_path, prefix):
    best = _best(_full_size(tmp_path, prefix))
    assert (best.plugin, best.family, best.variant, best.pipeline_class) == ("autopipe-lumina", lumina.LUMINA2, "lumina2-2b", "diffusers:Lumina2Pipeline")
    assert best.confidence == 0.95 and Path(best.config) == config_folder("lumina2-2b") and best.prefixes["transformer"] == prefix
    assert "26 layers and 2 refiner layers 2304 wide" in best.reason and "pass text_encoder=, tokenizer= and vae=" in best.reason


def test_a_full_size_file_resolves_and_plans_its_transformer_from_the_header(tmp_path):
    path = _full_size(tmp_path)
    resolution = resolve(path, Task.TEXT2IMG)
    assert (resolution.family, resolution.pipeline_class) == (lumina.LUMINA2, "Lumina2Pipeline")
    placed = plan_placement(resolution, DeviceFacts("cuda", 1, 40 * GiB, 80 * GiB, True))
    transformer = placed.footprint.component("transformer")
    assert placed.plan.dtype == "bfloat16" and round(transformer.nbytes / GiB, 2) == 4.86  # 2.61 B parameters in bfloat16


def test_loading_a_transformer_file_without_its_other_components_says_what_to_pass_before_reading_it(tmp_path):
    path = _full_size(tmp_path)  # a hole where the data is: reading it would give zeros, not an error
    with pytest.raises(UnsupportedModelError) as refusal:
        AutoPipelineForText2Image.from_single_file(str(path))
    message = str(refusal.value)
    assert "nothing gives its text_encoder, tokenizer, vae" in message and f"config=<a Lumina 2 diffusers folder" in message and DEFAULT_REPO in message


def test_other_attention_widths_are_recognised_and_refused_saying_why(tmp_path):
    path = _full_size(tmp_path, num_kv_heads=24)  # full multi-head attention: qkv of 3 x 2304 rows, which diffusers' split cannot take
    best = _best(path)
    assert (best.family, best.variant, best.component) == (lumina.LUMINA2, "lumina2-original", "diffusers:Lumina2Transformer2DModel")
    with pytest.raises(UnsupportedModelError, match="splits every fused qkv into 2304 query and 768 key and value rows"):
        resolve(path, Task.TEXT2IMG)


def test_an_unknown_depth_is_recognised_and_refused_saying_what_to_pass(tmp_path):
    best = _best(_full_size(tmp_path, num_layers=30))
    assert best.variant == "lumina2-original" and best.confidence == 0.6 and "config=<the diffusers repo it was trained from>" in best.use


def test_a_lumina_next_original_file_is_refused_saying_what_loads_it(tmp_path):
    """Lumina-Next's files have Lumina 2's caption-embedder name too (diffusers' own inference would call them lumina2)."""
    meta = lambda *shape: torch.empty(*shape, dtype=torch.bfloat16, device="meta")  # noqa: E731
    tensors = {
        "cap_embedder.0.weight": meta(2048), "cap_embedder.1.weight": meta(2304, 2048), "x_embedder.weight": meta(2304, 16),
        "layers.0.attention.wq.weight": meta(2304, 2304), "layers.0.attention.wk_y.weight": meta(576, 2048), "pad_token": meta(2304),
    }
    path = header_only_file(tmp_path / "next.safetensors", tensors)
    best = _best(path)
    assert (best.family, best.variant, best.component) == (lumina.LUMINA, "lumina-next-original", "diffusers:LuminaNextDiT2DModel")
    with pytest.raises(UnsupportedModelError, match="no single-file loader for Lumina-Next.*Lumina-Next-SFT-diffusers.*convert_lumina_to_diffusers"):
        resolve(path, Task.TEXT2IMG)


def test_a_z_image_file_is_not_claimed(tmp_path):
    """Z-Image's files carry cap_embedder.0.weight too; diffusers tells them apart by layers.0.adaLN_modulation.0.weight first."""
    meta = lambda *shape: torch.empty(*shape, dtype=torch.bfloat16, device="meta")  # noqa: E731
    tensors = {"cap_embedder.0.weight": meta(2560), "cap_embedder.1.weight": meta(3840, 2560), "layers.0.adaLN_modulation.0.weight": meta(15360, 256)}
    path = header_only_file(tmp_path / "zimage.safetensors", tensors)
    assert not [d for d in detect(read(path)).ranked if d.plugin == "autopipe-lumina"]


# Offline loads of the tiny file: bare, ComfyUI's prefix, an all-in-one with other components' tensors


def test_comfyuis_prefixed_tiny_file_loads_and_draws(tmp_path, wide):
    path = lumina2_single_file(tmp_path / "comfy.safetensors", prefix=COMFY_PREFIX, transformer=wide)
    assert _best(path).variant == "lumina2-tiny"
    pipe = AutoPipelineForText2Image.from_single_file(str(path))
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "Lumina2Pipeline" and pipe.transformer.config.hidden_size == 2304
    assert pipe("a red fox", num_inference_steps=2).images[0].size == (64, 64)


def test_diffusers_converter_still_fails_on_comfyuis_prefixed_names():
    """Why transformer_weights strips the prefix itself: diffusers 0.42.1 strips it, then pops the names it read before."""
    from diffusers.loaders.single_file_utils import convert_lumina2_to_diffusers

    model = lumina2_transformer()
    with pytest.raises(KeyError, match=COMFY_PREFIX):
        convert_lumina2_to_diffusers({COMFY_PREFIX + k: v for k, v in original(model.state_dict(), model.config).items()})


def test_an_all_in_one_file_hands_diffusers_its_transformer_tensors_only(tmp_path, wide):
    """ComfyUI's all-in-one files carry a text encoder and a VAE in ComfyUI's own layout: they are not read."""
    from safetensors.torch import load_file, save_file

    path = lumina2_single_file(tmp_path / "aio.safetensors", prefix=COMFY_PREFIX, transformer=wide)
    tensors = load_file(str(path))
    save_file({**tensors, "text_encoders.gemma2_2b.x": torch.zeros(2), "vae.decoder.x": torch.zeros(2)}, str(path))
    weights = transformer_weights(str(path), COMFY_PREFIX)
    assert isinstance(weights, dict) and set(weights) == {n[len(COMFY_PREFIX):] for n in tensors}
    assert transformer_weights(str(lumina2_single_file(tmp_path / "bare.safetensors", transformer=wide)), "") == str(tmp_path / "bare.safetensors")
    assert _best(path).variant == "lumina2-tiny"


def test_config_names_the_folder_the_other_components_come_from(tiny_checkpoint, tmp_path, wide):
    path = lumina2_single_file(tmp_path / "tiny.safetensors", transformer=wide)
    pipe = AutoPipelineForText2Image.from_single_file(str(path), config=str(tiny_checkpoint(lumina.LUMINA2)), dtype=torch.bfloat16)
    assert pipe.transformer.dtype == torch.bfloat16 and pipe.text_encoder.dtype == torch.bfloat16
    assert pipe.scheduler.config.shift == 6.0


def test_passed_components_need_no_config_and_the_scheduler_comes_from_the_shipped_folder(tiny_checkpoint, tmp_path, wide):
    from diffusers import Lumina2Pipeline

    rest = Lumina2Pipeline.from_pretrained(tiny_checkpoint(lumina.LUMINA2))
    path = lumina2_single_file(tmp_path / "tiny.safetensors", transformer=wide)
    pipe = AutoPipelineForText2Image.from_single_file(str(path), text_encoder=rest.text_encoder, tokenizer=rest.tokenizer, vae=rest.vae)
    assert pipe.text_encoder is rest.text_encoder and pipe.scheduler.config.shift == 6.0
    assert pipe.transformer.config.num_attention_heads == 3  # the shipped tiny-file config, from the header's shapes
