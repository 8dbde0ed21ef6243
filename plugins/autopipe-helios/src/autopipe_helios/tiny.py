"""Tiny random-weight Helios and Helios Pyramid checkpoints, built offline in about a second.

Both families share the shape of their components (about 54,000 parameters
in all), as the real checkpoints do:

- the tokenizer: the toolkit's T5 tokenizer (``T5TokenizerFast``, the class
  Helios's model_index.json names; 192 Unigram pieces over single
  characters), built in memory, ``model_max_length`` 512 as UMT5-XXL's;
- the text encoder: transformers' ``UMT5EncoderModel`` 16 wide, 2 layers of
  2 heads (UMT5-XXL: 4096 wide, 24 layers);
- the transformer: a HeliosTransformer3DModel 16 wide (2 heads of 8, rope
  axes 4, 2, 2), 2 blocks, over 4 latent channels in 1 x 2 x 2 patches, with
  Helios's multi-term memory patches (the history of earlier chunks at 1x,
  2x and 4x compression), ``text_dim`` 16 to take the encoder's width;
- the VAE: an AutoencoderKLWan with Wan's layout (four levels, 8x spatial and
  4x temporal compression, causal 3D convolutions) at 4 channels a level and
  4 latent channels (Wan's: 96 and 16), latents_mean 0 and latents_std 1;
- the scheduler: for ``helios``, HeliosScheduler with ``stages=1`` (HeliosPipeline
  samples one schedule per chunk and fails on a multi-stage scheduler: the
  configuration of diffusers' own hf-internal-testing/tiny-helios-modular-pipe);
  for ``helios-pyramid``, HeliosDMDScheduler with its 3 stages and
  ``is_distilled=True``, ``is_cfg_zero_star=False``, as Helios-Distilled's
  model_index.json has them, but ``gamma`` 0.25 instead of 1/3: the pyramid's
  block noise draws from a 4 x 4 covariance ``(1 + gamma) I - gamma J`` whose
  smallest eigenvalue is ``1 - 3 gamma``, zero at 1/3, and torch's CPU
  Cholesky refuses it (diffusers adds only 1e-8); tests/test_helios_plugin.py
  shows both.

Helios draws a video in chunks of ``(num_latent_frames_per_chunk - 1) x 4 + 1``
frames; the tests call it with ``num_frames=1`` and one latent frame a chunk
(a picture: the text2img of diffusers' table) at 64 x 64, the smallest side
the pyramid's three halvings and the 2 x 2 patches leave a token at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import CLASSES, FAMILIES, HELIOS, PYRAMID

#: The tiny text encoder's width: the transformer's text_dim must match it (UMT5-XXL: 4096).
TEXT_WIDTH = 16
#: The VAE's latent channels, which the transformer takes (Wan's VAE: 16).
LATENT_CHANNELS = 4
#: UMT5-XXL's tokenizer length, which the tiny tokenizer keeps (the pipelines pad to max_sequence_length anyway).
MAX_LENGTH = 512
#: The tiny pyramid scheduler's gamma (see the module's docstring; Helios's schedulers default to 1/3).
TINY_GAMMA = 0.25

VARIANTS = (None,)


def tokenizer() -> Any:
    """The toolkit's T5 tokenizer (``T5TokenizerFast``, 192 pieces), UMT5-XXL's length."""
    return toolkit.tokenizers.t5(model_max_length=MAX_LENGTH)


def text_encoder(tok: Any) -> Any:
    """A tiny UMT5EncoderModel: 16 wide, 2 layers of 2 heads of 8, 8 relative-position buckets."""
    from transformers import UMT5Config, UMT5EncoderModel

    config = UMT5Config(
        vocab_size=len(tok), d_model=TEXT_WIDTH, d_kv=8, d_ff=2 * TEXT_WIDTH, num_layers=2, num_heads=2,
        relative_attention_num_buckets=8, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
    )
    return UMT5EncoderModel(config).eval()


def vae() -> Any:
    """A tiny AutoencoderKLWan: Wan's four levels (8x spatial, 4x temporal) at 4 channels, 4 latent channels."""
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(
        base_dim=4, z_dim=LATENT_CHANNELS, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True],
        latents_mean=[0.0] * LATENT_CHANNELS, latents_std=[1.0] * LATENT_CHANNELS,
    )


def transformer() -> Any:
    """A tiny HeliosTransformer3DModel: 16 wide (2 heads of 8), 2 blocks, 4 channels in 1 x 2 x 2 patches, memory patches on."""
    from diffusers import HeliosTransformer3DModel

    return HeliosTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS,
        text_dim=TEXT_WIDTH, freq_dim=16, ffn_dim=32, num_layers=2, rope_dim=(4, 2, 2),
    )


def scheduler(family: str) -> Any:
    """HeliosScheduler(stages=1) for ``helios``; HeliosDMDScheduler (3 stages, gamma :data:`TINY_GAMMA`) for ``helios-pyramid``."""
    from diffusers import HeliosDMDScheduler, HeliosScheduler

    return HeliosScheduler(stages=1) if family == HELIOS else HeliosDMDScheduler(gamma=TINY_GAMMA)


def pipeline(family: str = HELIOS, seed: int = 0) -> Any:
    """The tiny pipeline of `family`, in memory (float32, random weights under `seed`). ValueError for a family not here."""
    import diffusers

    if family not in FAMILIES:
        raise ValueError(f"autopipe-helios builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    with toolkit.tiny.seeded(seed):
        tok = tokenizer()
        components = dict(tokenizer=tok, text_encoder=text_encoder(tok), vae=vae(), transformer=transformer(), scheduler=scheduler(family))
    extra = {"is_distilled": True, "is_cfg_zero_star": False} if family == PYRAMID else {}
    return getattr(diffusers, CLASSES[family])(**components, **extra)


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint of `family` to `path` with save_pretrained: the ``autopipe_build_tiny`` hook; returns the path.

    Each family has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built, and so is another family.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed, VARIANTS)
