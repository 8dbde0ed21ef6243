"""A tiny random-weight Ovis-Image checkpoint, built offline in well under a second.

Ovis-Image's architecture at a size where a 2-step 64x64 call takes a
fraction of a second on one CPU core (about 270,000 parameters):

- the tokenizer: the toolkit's Qwen2 tokenizer over bytes (Ovis-Image's is a
  ``Qwen2TokenizerFast``), built in memory, with Qwen3's thinking markers as
  single special tokens and a chat template of Qwen3's form:
  OvisImagePipeline wraps each prompt with ``apply_chat_template(...,
  enable_thinking=False)`` and drops the first 28 tokens of the encoder's
  output (the template's, counted in the real vocabulary; over bytes they
  cover less of it, which changes nothing a test reads);
- the text encoder: a ``Qwen3Model`` 16 wide, 2 layers of 2 heads of 8;
- the transformer: an OvisImageTransformer2DModel with one double- and one
  single-stream block of 2 heads of 16 (rope axes 4, 6, 6), 64 input
  channels: 16 latent channels packed 2 x 2, as the real one;
- the VAE: the toolkit's tiny AutoencoderKL with 16 latent channels and
  FLUX.1's scaling 0.3611 and shift 0.1159 (Ovis-Image's is 16-channel and
  the pipeline applies both), no quant convolutions: a 64x64 image is 32x32
  latents, 16 x 16 packed tokens;
- the scheduler: flow-match Euler with resolution-dependent shifting, the
  keys and values OvisImagePipeline reads (``calculate_shift``'s defaults:
  0.5 to 1.15 over 256 to 4,096 tokens).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import FAMILIES, OVIS, OVIS_CLASS

#: Qwen3's thinking markers, which its chat template writes when thinking is off (OvisImagePipeline turns it off).
THINK_SPECIALS = ("<think>", "</think>")
#: A chat template of Qwen3's form: each message as <|im_start|>role ... <|im_end|>; the assistant's turn opened when asked,
#: with an empty thinking block when thinking is off.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
#: The tiny text encoder's width: the transformer's joint_attention_dim must match it (Ovis-Image: 2048).
TEXT_WIDTH = 16
#: Latent channels of Ovis-Image's VAE; the transformer takes them packed 2 x 2 (in_channels 64).
LATENT_CHANNELS = 16
#: FLUX.1's VAE latent scaling and shift, which OvisImagePipeline applies before decoding.
SCALING_FACTOR = 0.3611
SHIFT_FACTOR = 0.1159
#: The transformer's settings: Ovis-Image's layout at 32 wide (2 heads of 16; the rope axes add up to the head's 16).
TRANSFORMER = dict(
    patch_size=1, in_channels=4 * LATENT_CHANNELS, out_channels=4 * LATENT_CHANNELS, num_layers=1, num_single_layers=1,
    attention_head_dim=16, num_attention_heads=2, joint_attention_dim=TEXT_WIDTH, axes_dims_rope=(4, 6, 6),
)
#: Flow-match Euler shifted by the image's token count, with the bounds OvisImagePipeline's calculate_shift defaults to.
SCHEDULER = dict(use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)

VARIANTS = (None,)


def tokenizer() -> Any:
    """The toolkit's Qwen2 tokenizer over bytes (261 entries), with Qwen3's thinking markers and :data:`CHAT_TEMPLATE`."""
    return toolkit.tokenizers.qwen2(specials=THINK_SPECIALS, chat_template=CHAT_TEMPLATE)


def text_encoder(tok: Any) -> Any:
    """A tiny Qwen3Model (Ovis2.5's language model at 16 wide): 2 layers, 2 heads of 8, one key/value head; ids from `tok`."""
    return toolkit.tiny.qwen3_encoder(tok, TEXT_WIDTH, positions=512)


def transformer(**overrides: Any) -> Any:
    """An OvisImageTransformer2DModel of :data:`TRANSFORMER` (about 82,000 parameters)."""
    from diffusers import OvisImageTransformer2DModel

    return OvisImageTransformer2DModel(**{**TRANSFORMER, **overrides})


def vae() -> Any:
    """The toolkit's tiny AutoencoderKL with 16 latent channels, FLUX.1's scaling and shift, no quant convolutions."""
    return toolkit.tiny.vae(
        latent_channels=LATENT_CHANNELS, scaling_factor=SCALING_FACTOR, shift_factor=SHIFT_FACTOR,
        use_quant_conv=False, use_post_quant_conv=False,
    )


def scheduler() -> Any:
    """Flow-match Euler with :data:`SCHEDULER`."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**SCHEDULER)


def pipeline(family: str = OVIS, seed: int = 0) -> Any:
    """The tiny OvisImagePipeline, in memory (float32, random weights under `seed`). ValueError for a family not here."""
    import diffusers

    if family not in FAMILIES:
        raise ValueError(f"autopipe-ovis builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    with toolkit.tiny.seeded(seed):
        tok = tokenizer()
        return getattr(diffusers, OVIS_CLASS)(
            scheduler=scheduler(), vae=vae(), text_encoder=text_encoder(tok), tokenizer=tok, transformer=transformer(),
        )


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint to `path` with save_pretrained: the ``autopipe_build_tiny`` hook; returns the path.

    The family has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built, and so is another family.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed, VARIANTS)
