"""Tiny random-weight PRX and PRXPixel checkpoints, built offline in about a second.

PRX (``prx``), a PRXPipeline of about 230,000 parameters:

- the tokenizer: the toolkit's Gemma tokenizer (PRX's is T5Gemma's, a
  ``GemmaTokenizerFast``), built in memory, ``model_max_length`` 256: PRXPipeline
  pads every prompt to its tokenizer's ``model_max_length``;
- the text encoder: transformers' ``T5GemmaEncoder`` (the class PRX's
  model_index.json names) 16 wide, 2 layers (one sliding-window, one global,
  as Gemma 2 alternates them), built from the encoder half of a
  ``T5GemmaConfig`` as diffusers' ``diffusers.pipelines.prx.T5GemmaEncoder``
  loads it;
- the transformer: a PRXTransformer2DModel 32 wide, 2 blocks of 2 heads
  (rope axes 8 and 8), over 32 latent channels in 1 x 1 patches, as a DC-AE
  PRX takes them (PRXPipeline requires sides divisible by the VAE's factor
  times the patch: 32 for the DC-AE's bins);
- the VAE: an AutoencoderDC with DC-AE f32c32's shape (six levels, 32x, 32
  latent channels) at 4 to 32 channels;
- the scheduler: flow-match Euler (PRXPipeline passes no ``mu``: no dynamic
  shifting);
- ``default_sample_size`` 256: PRXPipeline bins every size to the aspect
  ratios of 256, 512 or 1024 px (``use_resolution_binning``, on by default),
  so the tiny one draws at 256's bins (a 64x64 call draws 256x256, 8 x 8
  latents, then resizes) whatever is asked.

PRXPixel (``prx-pixel``), a PRXPixelPipeline of about 140,000 parameters:
the toolkit's Qwen2 tokenizer over bytes, a ``Qwen3VLTextModel`` (the
Qwen3-VL text backbone the pipeline takes) 16 wide, and a pixel-space
PRXTransformer2DModel (3 input channels, 32-pixel patches through an 8-wide
bottleneck, resolution embeddings, as ``bottleneck_size`` and
``resolution_embeds`` say for PRXPixel), ``default_sample_size`` 1024, the
only size PRXPixelPipeline bins to: every call draws near 1024 px, 1,024
patches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import FAMILIES, PIXEL, PIXEL_CLASS, PRX, PRX_CLASS

#: The tiny text encoders' width: the transformers' context_in_dim must match it (PRX's T5Gemma: 2304).
TEXT_WIDTH = 16
#: The padded prompt length of the tiny PRX tokenizer (PRXPipeline pads to model_max_length).
MAX_LENGTH = 256
#: DC-AE f32c32's latent channels, which the transformer takes.
DC_LATENT_CHANNELS = 32
#: DC-AE f32c32's latent scaling (mit-han-lab's dc-ae-f32c32 vae config), which PRXPipeline divides by before decoding.
DC_SCALING_FACTOR = 0.41407
#: The tiny PRX's default side: one of the sizes PRXPipeline bins to.
PRX_SIDE = 256
#: PRXPixel's side: the one size PRXPixelPipeline bins to.
PIXEL_SIDE = 1024
PIXEL_PATCH = 32

VARIANTS = (None,)


def gemma_tokenizer() -> Any:
    """The toolkit's Gemma tokenizer (194 entries), padding every prompt to :data:`MAX_LENGTH`."""
    return toolkit.tokenizers.gemma(model_max_length=MAX_LENGTH)


def t5gemma_encoder(tok: Any) -> Any:
    """A tiny T5GemmaEncoder: Gemma 2's layout 16 wide, 2 layers (sliding window, then global), 2 heads of 8, one key/value head."""
    from transformers.models.t5gemma.configuration_t5gemma import T5GemmaConfig, T5GemmaModuleConfig
    from transformers.models.t5gemma.modeling_t5gemma import T5GemmaEncoder

    def half() -> Any:
        return T5GemmaModuleConfig(
            vocab_size=len(tok), hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, head_dim=8, query_pre_attn_scalar=8, max_position_embeddings=512,
            sliding_window=64, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
        )

    config = T5GemmaConfig(encoder=half(), decoder=half())  # sets the encoder's dropout and is_decoder=False
    encoder = T5GemmaEncoder(config.encoder).eval()
    encoder._autopipe_t5gemma_config = config  # what t5gemma_config_file writes
    return encoder


def t5gemma_config_file(encoder: Any, folder: Path) -> Path:
    """Write the whole T5GemmaConfig `encoder` was built from as `folder`/config.json (architectures: T5GemmaEncoder); returns the path."""
    import json

    config = encoder._autopipe_t5gemma_config.to_dict()
    config["architectures"] = ["T5GemmaEncoder"]
    path = Path(folder) / "config.json"
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return path


def dc_ae() -> Any:
    """An AutoencoderDC with DC-AE f32c32's shape (six levels, 32x, 32 latent channels: ResBlocks, then EfficientViT blocks)."""
    from diffusers import AutoencoderDC

    blocks = ("ResBlock",) * 3 + ("EfficientViTBlock",) * 3
    scales = ((),) * 3 + ((5,),) * 3
    widths = (4, 8, 8, 16, 32, 32)
    return AutoencoderDC(
        in_channels=3, latent_channels=DC_LATENT_CHANNELS, attention_head_dim=4,
        encoder_block_types=blocks, decoder_block_types=blocks,
        encoder_block_out_channels=widths, decoder_block_out_channels=widths,
        encoder_layers_per_block=(1,) * 6, decoder_layers_per_block=(1,) * 6,
        encoder_qkv_multiscales=scales, decoder_qkv_multiscales=scales,
        downsample_block_type="Conv", upsample_block_type="interpolate", scaling_factor=DC_SCALING_FACTOR,
    )


def transformer(**overrides: Any) -> Any:
    """A tiny PRXTransformer2DModel: 32 wide, 2 blocks of 2 heads, over the DC-AE's 32 channels in 1 x 1 patches."""
    from diffusers import PRXTransformer2DModel

    settings = dict(
        in_channels=DC_LATENT_CHANNELS, patch_size=1, context_in_dim=TEXT_WIDTH, hidden_size=32, mlp_ratio=2.0,
        num_heads=2, depth=2, axes_dim=[8, 8],
    )
    return PRXTransformer2DModel(**{**settings, **overrides})


def pixel_transformer() -> Any:
    """A tiny pixel-space PRXTransformer2DModel: RGB in 32-pixel patches through an 8-wide bottleneck, resolution embeddings."""
    return transformer(in_channels=3, patch_size=PIXEL_PATCH, bottleneck_size=8, resolution_embeds=True)


def qwen_tokenizer() -> Any:
    """The toolkit's Qwen2 tokenizer over bytes (259 entries)."""
    return toolkit.tokenizers.qwen2()


def qwen3_vl_text(tok: Any) -> Any:
    """A tiny Qwen3VLTextModel (the Qwen3-VL text backbone) 16 wide: 2 layers, 2 heads of 8, one key/value head."""
    from transformers import Qwen3VLTextConfig, Qwen3VLTextModel

    config = Qwen3VLTextConfig(
        hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        head_dim=8, vocab_size=len(tok), max_position_embeddings=512, pad_token_id=tok.pad_token_id,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2]},
    )
    return Qwen3VLTextModel(config).eval()


def scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler()


def pipeline(family: str = PRX, seed: int = 0) -> Any:
    """The tiny pipeline of `family`, in memory (float32, random weights under `seed`). ValueError for a family not here."""
    import diffusers

    if family not in FAMILIES:
        raise ValueError(f"autopipe-prx builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    with toolkit.tiny.seeded(seed):
        if family == PRX:
            tok = gemma_tokenizer()
            return getattr(diffusers, PRX_CLASS)(
                transformer=transformer(), scheduler=scheduler(), text_encoder=t5gemma_encoder(tok), tokenizer=tok, vae=dc_ae(),
                default_sample_size=PRX_SIDE,
            )
        tok = qwen_tokenizer()
        return getattr(diffusers, PIXEL_CLASS)(
            transformer=pixel_transformer(), scheduler=scheduler(), text_encoder=qwen3_vl_text(tok), tokenizer=tok,
            default_sample_size=PIXEL_SIDE,
        )


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint of `family` to `path` with save_pretrained: the ``autopipe_build_tiny`` hook; returns the path.

    Each family has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built, and so is another family.
    """
    if variant not in VARIANTS:
        raise toolkit.tiny.unknown_variant(family, variant, VARIANTS)
    pipe = pipeline(family, seed)
    pipe.save_pretrained(path)
    if family == PRX:
        t5gemma_config_file(pipe.text_encoder, Path(path) / "text_encoder")
    return Path(path)
