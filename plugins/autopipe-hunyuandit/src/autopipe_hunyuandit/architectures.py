"""HunyuanDiT v1.x's published architecture, and header-only full-size checkpoints built from it for planning.

The numbers are the config.json files of Tencent-Hunyuan's diffusers
releases (HunyuanDiT-Diffusers, HunyuanDiT-v1.1-Diffusers,
HunyuanDiT-v1.2-Diffusers; the first is in ../shared/real_configs/hunyuandit,
which tests/test_hunyuandit_fullsize.py checks these against where it is
present):

- ``transformer``: HunyuanDiT2DModel, 40 blocks of 16 heads of 88 (1,408
  wide), MLP ratio 4.3637, patch 2, 128x128 latents (1024 px), cross-attention
  over 77 BERT tokens (1,024 wide) and 256 mT5 tokens (2,048 wide). v1.2
  (and its distilled release) drops the style and image-size conditions
  (``use_style_cond_and_image_meta_size: false``), which narrows the input of
  the extra-condition projection: 16.6 M parameters fewer.
- ``text_encoder``: a BertModel, 24 layers 1,024 wide (HunyuanDiT's bilingual
  CLIP text tower, Chinese-RoBERTa-large-shaped), vocabulary 47,020.
- ``text_encoder_2``: mT5-XL's encoder (T5EncoderModel: 24 layers 2,048 wide,
  gated GELU, 32 heads of 64, vocabulary 250,112, untied), 1,669,958,656
  parameters: the 6,679,834,624 float32 bytes the release's
  ``model.safetensors.index.json`` says (``metadata.total_size``).
- ``vae``: SDXL's AutoencoderKL (``sdxl-vae-fp16-fix``), scaling 0.13025.

:func:`meta_models` builds each with diffusers' and transformers' own classes
on the meta device (no memory); :func:`write_fullsize` writes a diffusers
folder whose weight files are header-only sparse safetensors with the true
tensor names and shapes (``autopipe_core.headers.write_header``), which the
planner reads as it reads the real checkpoint. Importing this module imports
nothing heavy; each function imports torch, diffusers or transformers when
called.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from autopipe_core.toolkit import fullsize
from autopipe_core.toolkit.fullsize import STEMS, dump_json, state_shapes

#: The transformer of v1.0 and v1.1 (HunyuanDiT-Diffusers, HunyuanDiT-v1.1-Diffusers).
TRANSFORMER: Mapping[str, Any] = MappingProxyType(dict(
    num_attention_heads=16, attention_head_dim=88, hidden_size=1408, in_channels=4, patch_size=2, activation_fn="gelu-approximate",
    sample_size=128, num_layers=40, mlp_ratio=4.3637, learn_sigma=True, cross_attention_dim=1024, norm_type="layer_norm",
    cross_attention_dim_t5=2048, pooled_projection_dim=1024, text_len=77, text_len_t5=256,
))
#: version -> the transformer's numbers: v1.2 without the style and image-size conditions.
TRANSFORMERS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "v1.1": TRANSFORMER,
    "v1.2": MappingProxyType(dict(TRANSFORMER, use_style_cond_and_image_meta_size=False)),
})
#: text_encoder: the bilingual CLIP's text tower, saved as a BertModel.
BERT: Mapping[str, Any] = MappingProxyType(dict(
    vocab_size=47020, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
    max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=0,
))
#: text_encoder_2: mT5-XL's encoder.
MT5_XL: Mapping[str, Any] = MappingProxyType(dict(
    vocab_size=250112, d_model=2048, d_ff=5120, d_kv=64, num_heads=32, num_layers=24, feed_forward_proj="gated-gelu",
    relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
    tie_word_embeddings=False, is_encoder_decoder=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
))
#: vae: SDXL's float16-safe AutoencoderKL.
VAE: Mapping[str, Any] = MappingProxyType(dict(
    in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2,
    norm_num_groups=32, act_fn="silu", sample_size=512, scaling_factor=0.13025, force_upcast=False,
))

#: mT5-XL's encoder as the release's index counts it (parameters: 6,679,834,624 float32 bytes / 4).
MT5_XL_PARAMETERS = 1_669_958_656

#: Each component's class, as model_index.json names it.
COMPONENTS: Mapping[str, tuple[str, str] | tuple[None, None]] = MappingProxyType({
    "feature_extractor": (None, None),
    "safety_checker": (None, None),
    "scheduler": ("diffusers", "DDPMScheduler"),
    "text_encoder": ("transformers", "BertModel"),
    "text_encoder_2": ("transformers", "T5EncoderModel"),
    "tokenizer": ("transformers", "BertTokenizer"),
    "tokenizer_2": ("transformers", "T5Tokenizer"),
    "transformer": ("diffusers", "HunyuanDiT2DModel"),
    "vae": ("diffusers", "AutoencoderKL"),
})
#: How the release shards each component (its mT5 in two files); the file stem each library saves under is the toolkit's STEMS.
SHARDS: Mapping[str, int] = MappingProxyType({"text_encoder_2": 2})


def numbers(version: str = "v1.2") -> dict[str, Mapping[str, Any]]:
    """component -> its constructor's numbers for `version` ("v1.1", which v1.0 shares, or "v1.2"); KeyError for another."""
    if version not in TRANSFORMERS:
        raise KeyError(f"HunyuanDiT has no published architecture {version!r}; it has {', '.join(TRANSFORMERS)}")
    return {"transformer": TRANSFORMERS[version], "text_encoder": BERT, "text_encoder_2": MT5_XL, "vae": VAE}


def build(component: str, settings: Mapping[str, Any]) -> Any:
    """The component `component` names, from its constructor's `settings` (call under ``torch.device("meta")``)."""
    if component == "transformer":
        from diffusers import HunyuanDiT2DModel

        return HunyuanDiT2DModel(**settings)
    if component == "vae":
        from diffusers import AutoencoderKL

        return AutoencoderKL(**settings)
    if component == "text_encoder":
        from transformers import BertConfig, BertModel

        return BertModel(BertConfig(**settings))
    if component == "text_encoder_2":
        from transformers import T5Config, T5EncoderModel

        return T5EncoderModel(T5Config(**settings))
    raise KeyError(f"HunyuanDiT builds no component {component!r}")


def meta_models(version: str = "v1.2") -> dict[str, Any]:
    """component -> the model built on torch's meta device (shapes, no memory; tied weights stay tied)."""
    return fullsize.meta_models(build, numbers(version))


def _config(model: Any) -> dict[str, Any]:
    """The model's config.json as its library writes it: diffusers' with ``_class_name``, transformers' with ``architectures``."""
    if hasattr(model, "save_config"):  # diffusers
        return {"_class_name": type(model).__name__, **{k: v for k, v in dict(model.config).items() if not k.startswith("_")}}
    return {**model.config.to_dict(), "architectures": [type(model).__name__]}


def write_fullsize(folder: str | Path, version: str = "v1.2", dtype: str = "F32") -> Path:
    """A diffusers folder of HunyuanDiT `version` whose weight files are header-only sparse safetensors of the true shapes.

    Each model's tensors are its save's (:func:`state_shapes`, on the meta
    device), stored as `dtype` ("F32", as the releases ship them, "F16" or
    "BF16"), mT5 sharded in two with the index transformers reads; the
    configs are the models' own, with ``model_index.json`` as the releases
    have it (no safety checker). A few kilobytes on disk.
    """
    folder = Path(folder)
    index: dict[str, Any] = {"_class_name": "HunyuanDiTPipeline", "_diffusers_version": "0.42.1", "requires_safety_checker": True}
    index.update({name: list(ref) for name, ref in COMPONENTS.items()})
    dump_json(folder / "model_index.json", index)
    dump_json(folder / "scheduler" / "scheduler_config.json", {"_class_name": "DDPMScheduler", "prediction_type": "v_prediction"})
    for name, model in meta_models(version).items():
        dump_json(folder / name / "config.json", _config(model))
        fullsize.write_weights(folder / name, STEMS[COMPONENTS[name][0]], state_shapes(model), dtype, SHARDS.get(name, 1))
    return folder
