"""Tiny random-weight BRIA 3.x and FIBO checkpoints, built offline in a second or two.

**bria**: BRIA's architecture at a size where a 2-step 64x64 call takes a fraction of
a second on one CPU core:

- the tokenizer: the toolkit's T5 tokenizer (Unigram over characters, built
  in memory: BRIA's is T5's, a ``T5TokenizerFast``), padding 0 and end 1 as
  T5's ids;
- the text encoder: the toolkit's ``T5EncoderModel`` (gated GELU as T5 v1.1
  XXL, BRIA's) 32 wide and 2 layers deep;
- the transformer: a ``BriaTransformer2DModel`` with one joint and one
  single-stream block of 2 heads of 8, rotary axes (0, 4, 4) as BRIA's
  (0, 48, 48) for 96-wide heads, patch size 1 and 16 input channels (the
  pipeline packs 2x2 latents of 4 channels, as BRIA-3.2's config has it);
- the VAE: the toolkit's tiny AutoencoderKL (one 2x downsampling; BriaPipeline
  reckons its scale as 2 to the number of blocks, the 2x2 packing included)
  with SDXL's scaling factor 0.13025, ``force_upcast`` false and no
  ``shift_factor``, as BRIA-3.2's VAE config has them;
- the scheduler: flow-match Euler with BRIA-3.2's settings (dynamic,
  exponential shifting from 256 to 4,096 image tokens, 0.5 to 1.15).

No ``image_encoder`` nor ``feature_extractor``: BriaPipeline's optional
components, which BRIA's released checkpoints do not ship either.

**bria-fibo**: FIBO's architecture, a 2-step 64x64 call in a fraction of a second:

- the tokenizer: the toolkit's byte-level BPE (``Qwen2Tokenizer``, built in
  memory; FIBO's is SmolLM3's byte-level BPE, a ``PreTrainedTokenizerFast``),
  ``<|endoftext|>`` padding;
- the text encoder: a ``SmolLM3ForCausalLM`` 32 wide, 2 layers of 2 heads (one
  key/value head), with SmolLM3's own vocabulary of 128,256 entries and tied
  embeddings (4.1 M parameters, most of the checkpoint): the pipelines give an
  empty prompt (the negative one, by default) the start-of-text id 128000
  whatever the tokenizer, so a smaller vocabulary could not encode it;
- the transformer: a ``BriaFiboTransformer2DModel`` with one joint and one
  single-stream block of 2 heads of 8, rotary axes (0, 4, 4), 16 input channels,
  ``text_encoder_dim`` 32 (SmolLM3's width) and ``joint_attention_dim`` 64 (the
  pipelines join SmolLM3's last two hidden states);
- the VAE: an ``AutoencoderKLWan`` of Wan 2.2's kind (2x2 pixel patches of 12
  channels in and out, residual blocks, 16x down in all, which the pipelines
  assume) 16 wide with one block a level and 16 latent channels (2.7 M parameters);
- the scheduler: flow-match Euler with diffusers' defaults, which the pipelines
  shift dynamically by the image's tokens.

:func:`fibo_edit` saves the same components as a FIBO Edit checkpoint
(``BriaFiboEditPipeline``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import BRIA, FAMILIES, FIBO

#: The text encoder's width, which the transformer's context_embedder takes (T5-XXL: 4096).
TEXT_HIDDEN = 32
#: The transformer's settings: BRIA-3.2's transformer/config.json at 16 wide.
TRANSFORMER = dict(
    patch_size=1,
    in_channels=16,
    num_layers=1,
    num_single_layers=1,
    attention_head_dim=8,
    num_attention_heads=2,
    joint_attention_dim=TEXT_HIDDEN,
    pooled_projection_dim=None,
    guidance_embeds=False,
    axes_dims_rope=[0, 4, 4],
)
#: SDXL's VAE scaling factor, BRIA's.
SCALING = 0.13025
#: BRIA-3.2's scheduler/scheduler_config.json, less the keys that are diffusers' defaults.
SCHEDULER = dict(
    base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15, shift=3.0,
    time_shift_type="exponential", use_dynamic_shifting=True,
)


def transformer(**overrides: Any) -> Any:
    """A BriaTransformer2DModel of :data:`TRANSFORMER` (about 20,000 parameters)."""
    from diffusers import BriaTransformer2DModel

    return BriaTransformer2DModel(**{**TRANSFORMER, **overrides})


def vae() -> Any:
    """The toolkit's tiny AutoencoderKL with SDXL's scaling factor, force_upcast false and no shift_factor (BRIA-3.2's VAE config)."""
    return toolkit.tiny.vae(scaling_factor=SCALING, force_upcast=False)


def scheduler() -> Any:
    """Flow-match Euler with BRIA-3.2's shifting (:data:`SCHEDULER`)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**SCHEDULER)


#: FIBO's transformer at 16 wide over a 32-wide SmolLM3.
FIBO_HIDDEN = 32
FIBO_TRANSFORMER = dict(
    patch_size=1,
    in_channels=16,
    num_layers=1,
    num_single_layers=1,
    attention_head_dim=8,
    num_attention_heads=2,
    joint_attention_dim=2 * FIBO_HIDDEN,
    text_encoder_dim=FIBO_HIDDEN,
    pooled_projection_dim=None,
    axes_dims_rope=[0, 4, 4],
)
#: Wan 2.2's VAE layout (patch 2, 12 channels, residual, 16x spatially) at 16 wide, one block a level.
FIBO_VAE = dict(
    base_dim=16,
    decoder_base_dim=16,
    num_res_blocks=1,
    in_channels=12,
    out_channels=12,
    is_residual=True,
    patch_size=2,
    scale_factor_spatial=16,
    scale_factor_temporal=4,
    temperal_downsample=[False, True, True],
    z_dim=16,
)


def smollm3(hidden: int = FIBO_HIDDEN) -> Any:
    """A SmolLM3ForCausalLM `hidden` wide, 2 layers of 2 heads (1 key/value head), SmolLM3's 128,256-entry vocabulary, tied embeddings."""
    from transformers import SmolLM3Config, SmolLM3ForCausalLM

    return SmolLM3ForCausalLM(SmolLM3Config(
        hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
    ))


def fibo_components(seed: int = 0) -> dict[str, Any]:
    """FIBO's five components, tiny (float32, random weights under `seed`): the keyword arguments of either FIBO pipeline."""
    from diffusers import AutoencoderKLWan, BriaFiboTransformer2DModel, FlowMatchEulerDiscreteScheduler

    with toolkit.tiny.seeded(seed):
        return dict(
            transformer=BriaFiboTransformer2DModel(**FIBO_TRANSFORMER),
            scheduler=FlowMatchEulerDiscreteScheduler(),
            vae=AutoencoderKLWan(**FIBO_VAE),
            text_encoder=smollm3(),
            tokenizer=toolkit.tokenizers.qwen2(),
        )


def pipeline(family: str = BRIA, seed: int = 0) -> Any:
    """The tiny pipeline of `family`, in memory (float32, random weights under `seed`). ValueError for a family not here."""
    from diffusers import BriaFiboPipeline, BriaPipeline

    if family not in FAMILIES:
        raise ValueError(f"autopipe-bria builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    if family == FIBO:
        return BriaFiboPipeline(**fibo_components(seed))
    with toolkit.tiny.seeded(seed):
        tokenizer = toolkit.tokenizers.t5()
        text_encoder = toolkit.tiny.t5_encoder(len(tokenizer), TEXT_HIDDEN)
        return BriaPipeline(transformer=transformer(), scheduler=scheduler(), vae=vae(), text_encoder=text_encoder, tokenizer=tokenizer)


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint of `family` to `path` with save_pretrained: the ``autopipe_build_tiny`` hook.

    Each family has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built. A FIBO Edit checkpoint is
    :func:`fibo_edit`'s.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed)


def fibo_edit(path: Path, seed: int = 0) -> Path:
    """Save a tiny FIBO Edit checkpoint (``BriaFiboEditPipeline``, FIBO's components) to `path`; return the path."""
    from diffusers import BriaFiboEditPipeline

    BriaFiboEditPipeline(**fibo_components(seed)).save_pretrained(path)
    return Path(path)
