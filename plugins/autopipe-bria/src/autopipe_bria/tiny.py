"""A tiny random-weight BRIA 3.x checkpoint, built offline in well under a second.

BRIA's architecture at a size where a 2-step 64x64 call takes a fraction of
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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import BRIA, FAMILIES

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


def pipeline(family: str = BRIA, seed: int = 0) -> Any:
    """The tiny BriaPipeline, in memory (float32, random weights under `seed`). ValueError for a family not here."""
    from diffusers import BriaPipeline

    if family not in FAMILIES:
        raise ValueError(f"autopipe-bria builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    with toolkit.tiny.seeded(seed):
        tokenizer = toolkit.tokenizers.t5()
        text_encoder = toolkit.tiny.t5_encoder(len(tokenizer), TEXT_HIDDEN)
        return BriaPipeline(transformer=transformer(), scheduler=scheduler(), vae=vae(), text_encoder=text_encoder, tokenizer=tokenizer)


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint to `path` with save_pretrained: the ``autopipe_build_tiny`` hook.

    The family has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built.
    """
    if variant is not None:
        raise toolkit.tiny.unknown_variant(family, variant, (None,))
    pipeline(family, seed).save_pretrained(path)
    return Path(path)
