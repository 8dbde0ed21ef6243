"""Tiny random-weight CogView3-Plus, CogView4 and CogView4 Control checkpoints, built offline in about a second.

Each family's architecture (its classes and the config keys that matter) at a
size where a 2-step 64x64 call takes a fraction of a second on one CPU core:

- the VAE (:func:`vae`): CogView's layout as diffusers' CogView3 and CogView4
  converters write it: an ``AutoencoderKL`` of four levels (8x, as the
  pipelines' ``vae_scale_factor`` reads from ``block_out_channels``),
  :data:`~autopipe_cogview.LATENT_CHANNELS` (16) latent channels, no
  quant convolutions, a mid block without attention, ``scaling_factor`` 1.0
  (the CogView4 converter's) and ``force_upcast``; channels 8, 8, 16, 16;
- cogview3 (:func:`cogview3`): the toolkit's T5 tokenizer (``T5Tokenizer``,
  CogView3-Plus's, limited to the 224 tokens CogView3PlusPipeline pads to by
  default) and a 2-layer ``T5EncoderModel`` 32 wide; a
  ``CogView3PlusTransformer2DModel`` of one block of 2 heads of 4;
  ``CogVideoXDPMScheduler`` on the schedule diffusers' CogView3 converter
  writes (v-prediction, zero terminal SNR, SNR shift 4, trailing spacing);
- cogview4 (:func:`cogview4`): the toolkit's GLM-4 tokenizer (byte-level BPE,
  ``[gMASK] <sop>`` first, padding on the left) and a 2-layer ``GlmModel`` 32
  wide; a ``CogView4Transformer2DModel`` of one block of 2 heads of 8; CogView4's
  flow-match Euler scheduler (dynamic shifting, linear time shift, base 0.25,
  max 0.75 at 256 tokens);
- cogview4 variant "control": the same with a transformer of
  :data:`~autopipe_cogview.CONTROL_CHANNELS` (32) input channels, saved as
  ``CogView4ControlPipeline``.

The transformers' ``sample_size`` is 8 latent pixels, so the pipelines'
default call (``sample_size x vae_scale_factor``) draws 64x64, and their
positions reach 1024 px (``pos_embed_max_size`` 64; CogView4's RoPE has no
limit), so the real checkpoints' default 1024x1024 call runs on them too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import CONTROL, CONTROL_CHANNELS, COGVIEW3, COGVIEW4, LATENT_CHANNELS

#: The tiny text encoders' width, which the transformers' text_embed_dim takes (T5-XXL's and GLM-4-9B's: 4096).
TEXT_HIDDEN = 32
#: CogView3PlusPipeline's default max_sequence_length: the T5 prompt is padded to it (diffusers 0.42.1).
T5_MAX_LENGTH = 224
#: The transformers' sample_size: 8 latent pixels, 64 px through the 8x VAE.
SAMPLE_SIZE = 8
#: What each family builds: None is its ordinary checkpoint.
KINDS: dict[str, tuple[str | None, ...]] = {COGVIEW3: (None,), COGVIEW4: (None, CONTROL)}

#: What the two transformers share, at tiny widths (the real ones: 2560 or 4096 wide, 512 time and 256 condition width).
_TRANSFORMER = dict(
    patch_size=2,
    out_channels=LATENT_CHANNELS,
    num_layers=1,
    text_embed_dim=TEXT_HIDDEN,
    time_embed_dim=8,
    condition_dim=4,
    pos_embed_max_size=64,
    sample_size=SAMPLE_SIZE,
)
#: diffusers' CogView3 converter's scheduler settings (scripts/convert_cogview3_to_diffusers.py).
COGVIEW3_SCHEDULE = dict(
    snr_shift_scale=4.0, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
    num_train_timesteps=1000, prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True,
    timestep_spacing="trailing",
)
#: CogView4's flow-match settings, as its pipeline reads them (base_image_seq_len, base_shift, max_shift) and diffusers'
#: CogView4 tests configure the scheduler.
COGVIEW4_SCHEDULE = dict(base_shift=0.25, max_shift=0.75, base_image_seq_len=256, use_dynamic_shifting=True, time_shift_type="linear")


def vae() -> Any:
    """CogView's 16-channel 8x ``AutoencoderKL`` layout (the module's docstring), channels 8, 8, 16, 16: about 60,000 parameters."""
    return toolkit.tiny.vae_8x(
        latent_channels=LATENT_CHANNELS,
        scaling_factor=1.0,
        force_upcast=True,
        use_quant_conv=False,
        use_post_quant_conv=False,
        mid_block_add_attention=False,
    )


def cogview3_transformer(**overrides: Any) -> Any:
    """A ``CogView3PlusTransformer2DModel``: one block, 2 heads of 4 (8 wide), 16 latent channels in and out."""
    from diffusers import CogView3PlusTransformer2DModel

    return CogView3PlusTransformer2DModel(**{**_TRANSFORMER, "in_channels": LATENT_CHANNELS, "attention_head_dim": 4, "num_attention_heads": 2, **overrides})


def cogview4_transformer(in_channels: int = LATENT_CHANNELS, **overrides: Any) -> Any:
    """A ``CogView4Transformer2DModel``: one block, 2 heads of 8 (16 wide); `in_channels` 16, or 32 for Control."""
    from diffusers import CogView4Transformer2DModel

    settings = {k: v for k, v in _TRANSFORMER.items() if k != "pos_embed_max_size"}  # CogView4 keeps it in its config, unused
    return CogView4Transformer2DModel(**{**settings, "in_channels": in_channels, "attention_head_dim": 8, "num_attention_heads": 2, **overrides})


def glm_encoder(tokenizer: Any) -> Any:
    """A ``GlmModel`` 32 wide: 2 layers of 4 heads of 8 (2 key/value heads), the tokenizer's vocabulary and padding id."""
    from transformers import GlmConfig, GlmModel

    config = GlmConfig(
        vocab_size=len(tokenizer), hidden_size=TEXT_HIDDEN, intermediate_size=2 * TEXT_HIDDEN, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
    )
    return GlmModel(config)


def cogview3(seed: int = 0) -> Any:
    """The tiny CogView3PlusPipeline, in memory (float32, random weights under `seed`)."""
    from diffusers import CogVideoXDPMScheduler, CogView3PlusPipeline

    with toolkit.tiny.seeded(seed):
        tokenizer = toolkit.tokenizers.t5(model_max_length=T5_MAX_LENGTH)
        return CogView3PlusPipeline(
            tokenizer=tokenizer, text_encoder=toolkit.tiny.t5_encoder(len(tokenizer), TEXT_HIDDEN), vae=vae(),
            transformer=cogview3_transformer(), scheduler=CogVideoXDPMScheduler(**COGVIEW3_SCHEDULE),
        )


def cogview4(variant: str | None = None, seed: int = 0) -> Any:
    """The tiny CogView4Pipeline (`variant` None) or CogView4ControlPipeline ("control"), in memory (float32, under `seed`)."""
    from diffusers import CogView4ControlPipeline, CogView4Pipeline, FlowMatchEulerDiscreteScheduler

    control = variant == CONTROL
    with toolkit.tiny.seeded(seed):
        tokenizer = toolkit.tokenizers.glm()
        cls = CogView4ControlPipeline if control else CogView4Pipeline
        return cls(
            tokenizer=tokenizer, text_encoder=glm_encoder(tokenizer), vae=vae(),
            transformer=cogview4_transformer(CONTROL_CHANNELS if control else LATENT_CHANNELS),
            scheduler=FlowMatchEulerDiscreteScheduler(**COGVIEW4_SCHEDULE),
        )


def pipeline(family: str, variant: str | None = None, seed: int = 0) -> Any:
    """The tiny pipeline of `family` and `variant`, in memory. ValueError for a family or variant not built here."""
    known = KINDS.get(family)
    if known is None:
        raise ValueError(f"autopipe-cogview builds no tiny {family!r}; it builds {', '.join(KINDS)}")
    if variant not in known:
        raise toolkit.tiny.unknown_variant(family, variant, known)
    return cogview3(seed) if family == COGVIEW3 else cogview4(variant, seed)


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint of `family` (and `variant`) to `path` with save_pretrained: the ``autopipe_build_tiny`` hook.

    cogview3: its ordinary checkpoint only (`variant` None); cogview4: None
    (CogView4Pipeline) or "control" (CogView4ControlPipeline). Anything else
    is a ValueError naming what is built. Returns `path`.
    """
    pipeline(family, variant, seed).save_pretrained(path)
    return Path(path)
