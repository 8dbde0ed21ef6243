"""The published architectures of SD 3 medium, SD 3.5 medium and SD 3.5 large, and what is built from them.

The numbers below are the architectures as Stability AI published them (the
SD3 paper, Esser et al. 2024, "Scaling Rectified Flow Transformers for
High-Resolution Image Synthesis": an MMDiT of depth d is 64 x d wide with d
heads of 64; SD 3 medium and 3.5 medium have d = 24, 3.5 large d = 38; the
config.json files of the diffusers repos stabilityai/stable-diffusion-3-medium-diffusers,
stable-diffusion-3.5-medium and stable-diffusion-3.5-large; the text encoders
are CLIP ViT-L/14, OpenCLIP ViT-bigG/14 and google/t5-v1_1-xxl's encoder).
From them, with diffusers' and transformers' own classes:

- :func:`write_config_folder` writes the config folders this plugin ships
  for single-file loading (``configs/<variant>``): each model's config as its
  class saves it (``save_config`` / ``save_pretrained``), the pipeline's
  ``model_index.json``, the scheduler's, and the tokenizers' special tokens;
- :func:`meta_models` builds each component on the meta device (no memory),
  for parameter counts and tensor shapes;
- :func:`original_layout` names every tensor as SD3's single files do
  (:mod:`autopipe_sd3.original`), with its true shape;
- :func:`write_fullsize` writes a diffusers folder of header-only sparse
  safetensors files with the true tensor shapes (``autopipe_core.headers.write_header``),
  as Stability AI's repos lay the checkpoint out, for planning tests and
  the placement table.

The parameter counts the tests check the built models against
(:data:`PUBLISHED`): each transformer, with its position table, plus the
VAE and both CLIP encoders, is exactly the total KerasHub publishes for the
preset (``keras_hub/src/models/stable_diffusion_3/stable_diffusion_3_presets.py``:
2,987,080,931 for SD 3 medium, 3,371,793,763 for 3.5 medium, 9,048,410,595
for 3.5 large); the T5-v1.1-XXL encoder has 4,762,310,656 (the "4.76 B" of
DeepFloyd IF's and SD3's documentation); CLIP ViT-L/14's text encoder with
its projection 123,650,304, OpenCLIP ViT-bigG/14's 694,659,840.

Importing this module imports nothing heavy; each function imports torch,
diffusers or transformers when called.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from autopipe_core.toolkit import fullsize
from autopipe_core.toolkit.fullsize import STEMS, dump_json, save_config, state_shapes

from . import FAMILY, LATENT_CHANNELS, SCALING_FACTOR, SHIFT_FACTOR

#: Every SD3 transformer: 16 latent channels in and out, 2x2 patches, heads of 64, 128x128 latents (1024x1024 pixels),
#: text states 4096 wide (T5-XXL) and a pooled text vector of 2048 (CLIP-L's 768 + CLIP-G's 1280).
_MMDIT = dict(
    sample_size=128, patch_size=2, in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, attention_head_dim=64,
    joint_attention_dim=4096, pooled_projection_dim=2048,
)

#: variant -> the SD3Transformer2DModel's numbers. 3.5 adds RMS norms on queries and keys; 3.5 medium (MMDiT-X) a
#: second, image-only attention in its first 13 blocks and a position table for up to 384x384 patches (1.5 MP pictures).
TRANSFORMERS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "sd3-medium": MappingProxyType(dict(_MMDIT, num_layers=24, num_attention_heads=24, caption_projection_dim=1536, pos_embed_max_size=192)),
    "sd35-medium": MappingProxyType(dict(
        _MMDIT, num_layers=24, num_attention_heads=24, caption_projection_dim=1536, pos_embed_max_size=384,
        qk_norm="rms_norm", dual_attention_layers=tuple(range(13)),
    )),
    "sd35-large": MappingProxyType(dict(
        _MMDIT, num_layers=38, num_attention_heads=38, caption_projection_dim=2432, pos_embed_max_size=192, qk_norm="rms_norm",
    )),
})

#: SD3's VAE: SDXL's AutoencoderKL with 16 latent channels and no quant convolutions.
VAE: Mapping[str, Any] = MappingProxyType(dict(
    in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS, block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2,
    norm_num_groups=32, act_fn="silu", sample_size=1024, scaling_factor=SCALING_FACTOR, shift_factor=SHIFT_FACTOR,
    use_quant_conv=False, use_post_quant_conv=False, force_upcast=True, mid_block_add_attention=True,
))

#: text_encoder: CLIP ViT-L/14's text tower with its projection; text_encoder_2: OpenCLIP ViT-bigG/14's.
CLIP_L: Mapping[str, Any] = MappingProxyType(dict(
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
    max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu", bos_token_id=0, eos_token_id=2, pad_token_id=1,
))
CLIP_G: Mapping[str, Any] = MappingProxyType(dict(
    vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
    max_position_embeddings=77, projection_dim=1280, hidden_act="gelu", bos_token_id=0, eos_token_id=2, pad_token_id=1,
))
#: text_encoder_3: google/t5-v1_1-xxl's encoder (gated GELU, untied output head: an encoder has none).
T5_XXL: Mapping[str, Any] = MappingProxyType(dict(
    vocab_size=32128, d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24, feed_forward_proj="gated-gelu",
    relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
    tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
))
#: FlowMatchEulerDiscreteScheduler as every SD 3 and 3.5 checkpoint configures it.
SCHEDULER: Mapping[str, Any] = MappingProxyType(dict(num_train_timesteps=1000, shift=3.0))

#: The tokenizers' special tokens: CLIP-L's pads with its end token, CLIP-G's with "!" (OpenCLIP's padding, as
#: SDXL's second tokenizer); T5's pieces are 32,000 SentencePiece pieces and 100 sentinels, which no file here ships.
CLIP_L_TOKENIZER = MappingProxyType(dict(
    tokenizer_class="CLIPTokenizer", bos_token="<|startoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
    pad_token="<|endoftext|>", model_max_length=77, do_lower_case=True,
))
CLIP_G_TOKENIZER = MappingProxyType(dict(CLIP_L_TOKENIZER, pad_token="!"))
T5_TOKENIZER = MappingProxyType(dict(
    tokenizer_class="T5Tokenizer", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=100, model_max_length=512,
))

#: Parameter counts the built models must have (see the module docstring for the sources): a transformer's counts
#: its position table (a buffer in diffusers, a tensor in every file) too.
PUBLISHED: Mapping[str, int] = MappingProxyType({
    "sd3-medium": 2_987_080_931,  # transformer with position table + VAE + CLIP-L + CLIP-G (KerasHub's preset)
    "sd35-medium": 3_371_793_763,
    "sd35-large": 9_048_410_595,
    "text_encoder": 123_650_304,
    "text_encoder_2": 694_659_840,
    "text_encoder_3": 4_762_310_656,
})

#: The variants with a config folder built from these numbers (the tiny one, "sd3-tiny", is built from autopipe_sd3.tiny's).
VARIANTS = tuple(TRANSFORMERS)

#: Each component's class, as model_index.json names it.
COMPONENTS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "scheduler": ("diffusers", "FlowMatchEulerDiscreteScheduler"),
    "text_encoder": ("transformers", "CLIPTextModelWithProjection"),
    "text_encoder_2": ("transformers", "CLIPTextModelWithProjection"),
    "text_encoder_3": ("transformers", "T5EncoderModel"),
    "tokenizer": ("transformers", "CLIPTokenizer"),
    "tokenizer_2": ("transformers", "CLIPTokenizer"),
    "tokenizer_3": ("transformers", "T5TokenizerFast"),
    "transformer": ("diffusers", "SD3Transformer2DModel"),
    "vae": ("diffusers", "AutoencoderKL"),
})


def numbers(variant: str) -> dict[str, Mapping[str, Any]]:
    """component -> its constructor's numbers, for a full-size variant ("sd3-medium", "sd35-medium", "sd35-large").

    KeyError naming the variants for another name.
    """
    if variant not in TRANSFORMERS:
        raise KeyError(f"{FAMILY} has no published architecture {variant!r}; it has {', '.join(TRANSFORMERS)}")
    return {"transformer": TRANSFORMERS[variant], "vae": VAE, "text_encoder": CLIP_L, "text_encoder_2": CLIP_G, "text_encoder_3": T5_XXL}


def build(component: str, settings: Mapping[str, Any]) -> Any:
    """The component of SD3 `component` names, from its constructor's `settings` (call under a device context for meta)."""
    if component == "transformer":
        from diffusers import SD3Transformer2DModel

        return SD3Transformer2DModel(**settings)
    if component == "vae":
        from diffusers import AutoencoderKL

        return AutoencoderKL(**settings)
    if component in ("text_encoder", "text_encoder_2"):
        from transformers import CLIPTextConfig, CLIPTextModelWithProjection

        return CLIPTextModelWithProjection(CLIPTextConfig(**settings))
    if component == "text_encoder_3":
        from transformers import T5Config, T5EncoderModel

        return T5EncoderModel(T5Config(**settings))
    raise KeyError(f"{FAMILY} builds no component {component!r}")


def meta_models(variant: str) -> dict[str, Any]:
    """component -> the model built on torch's meta device (shapes, no memory; tied weights stay tied)."""
    return fullsize.meta_models(build, numbers(variant))


def model_index() -> dict[str, Any]:
    """The pipeline's model_index.json: StableDiffusion3Pipeline and its nine components (no IP-Adapter image encoder)."""
    index: dict[str, Any] = {"_class_name": "StableDiffusion3Pipeline", "_diffusers_version": "0.42.1"}
    index.update({name: list(ref) for name, ref in COMPONENTS.items()})
    return index


def write_config_folder(folder: str | Path, variant: str) -> Path:
    """Write the config folder of a full-size variant: what ``from_single_file(config=...)`` reads, no weights.

    Each model's config.json is what its class saves when built with
    :func:`numbers` (on the meta device); the tokenizer folders hold only
    tokenizer_config.json (the core builds CLIP's tokenizers from the merges
    it ships; T5's vocabulary is not shipped, see :mod:`autopipe_sd3.single_file`).
    """
    folder = Path(folder)
    for name, model in meta_models(variant).items():
        save_config(model, folder / name)
    dump_json(folder / "model_index.json", model_index())
    write_scheduler(folder)
    for name, tokens in (("tokenizer", CLIP_L_TOKENIZER), ("tokenizer_2", CLIP_G_TOKENIZER), ("tokenizer_3", T5_TOKENIZER)):
        dump_json(folder / name / "tokenizer_config.json", tokens)
    return folder


def write_scheduler(folder: Path) -> None:
    """The scheduler's config every SD 3 and 3.5 checkpoint has (:data:`SCHEDULER`), in ``folder/scheduler``."""
    fullsize.write_scheduler(folder, "FlowMatchEulerDiscreteScheduler", SCHEDULER)


#: How Stability AI's diffusers repos shard each component (stable-diffusion-3.5-large: the transformer in 3 files,
#: T5 in 2); the file stem each library saves under is the toolkit's STEMS.
SHARDS: Mapping[str, int] = MappingProxyType({"transformer": 3, "text_encoder_3": 2})


def write_fullsize(folder: str | Path, variant: str = "sd35-large", dtype: str = "BF16") -> Path:
    """A diffusers folder of `variant` whose weight files are header-only sparse safetensors with the true shapes.

    Each model's tensors are its save's (:func:`state_shapes`, on the meta
    device), stored as `dtype` ("BF16", "F16", "F32"), sharded as
    :data:`SHARDS` with the index diffusers and transformers read; the
    configs are :func:`write_config_folder`'s. A few kilobytes on disk; the
    planner reads it as it reads the real checkpoint. For SD 3.5 large in
    bfloat16: about 25.6 GiB of weights.
    """
    folder = write_config_folder(folder, variant)
    for name, model in meta_models(variant).items():
        fullsize.write_weights(folder / name, STEMS[COMPONENTS[name][0]], state_shapes(model), dtype, SHARDS.get(name, 1))
    return folder
