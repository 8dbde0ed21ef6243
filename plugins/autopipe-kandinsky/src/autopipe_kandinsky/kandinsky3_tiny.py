"""A tiny random-weight Kandinsky 3 checkpoint, built offline in about a second.

``build(path)`` saves a ``Kandinsky3Pipeline`` folder with Kandinsky 3's
classes at a few hundred thousand parameters:

- ``tokenizer``: the toolkit's T5 tokenizer, built in memory (Unigram over
  characters, 192 ids; the pipeline pads every prompt to 128 tokens);
- ``text_encoder``: a ``T5EncoderModel`` 32 wide, 2 layers, with Flan-UL2's
  gated-SiLU feed-forward (T5 v1.1's is gated-GELU);
- ``unet``: a ``Kandinsky3UNet`` of two levels (16 and 32 channels, 2 blocks
  a level: diffusers' Kandinsky3UNet breaks with 1, a channel mismatch in
  its up blocks), groups of 8, heads 8 wide, time embedding 32, reading the
  T5's 32-wide states;
- ``movq``: a ``VQModel`` with spatial norm, as Sber's MoVQ, of **four**
  levels so that it scales by 8 as the real one does: Kandinsky3Pipeline
  sizes its latents as if it did (``downscale_height_and_width(h, w, 8)``),
  so a 64x64 call gives a 64x64 image. 32 channels a level: its SpatialNorm
  takes 32 groups whatever the config says;
- ``scheduler``: ``DDPMScheduler`` on the cosine (``squaredcos_cap_v2``)
  schedule with ``clip_sample`` on, as diffusers' own Kandinsky 3 test
  components set it (Sber's diffusion module has that "cosine" schedule and
  clips the predicted image to [-1, 1]).

Sizes were chosen after reading diffusers' own Kandinsky 3 test components,
smaller where that still runs. A 2-step 64x64 call takes about 0.3 s on one
CPU core; the folder is about 2.7 MB. Kandinsky 3 has no variants, so
``variant`` must be None.
"""

from __future__ import annotations

from pathlib import Path

from autopipe_core import toolkit

from .kandinsky3 import KANDINSKY3

#: The T5's width, which the UNet's encoder_hid_dim reads (Flan-UL2: 4096).
TEXT_WIDTH = 32
#: MoVQ levels: 4, each halving, as the real MoVQ's (the pipeline assumes a factor of 8).
MOVQ_LEVELS = 4
VARIANT_NAMES = (None,)


def text_encoder(vocab_size: int):
    return toolkit.tiny.t5_encoder(vocab_size, TEXT_WIDTH, feed_forward_proj="gated-silu")


def unet():
    from diffusers import Kandinsky3UNet

    return Kandinsky3UNet(
        in_channels=4, time_embedding_dim=32, groups=8, attention_head_dim=8, layers_per_block=2,
        block_out_channels=(16, 32), cross_attention_dim=32, encoder_hid_dim=TEXT_WIDTH,
    )


def movq():
    from diffusers import VQModel

    return VQModel(
        in_channels=3, out_channels=3, latent_channels=4, vq_embed_dim=4, num_vq_embeddings=12,
        block_out_channels=[32] * MOVQ_LEVELS, layers_per_block=1, norm_num_groups=8, norm_type="spatial",
        down_block_types=["DownEncoderBlock2D"] * (MOVQ_LEVELS - 1) + ["AttnDownEncoderBlock2D"],
        up_block_types=["AttnUpDecoderBlock2D"] + ["UpDecoderBlock2D"] * (MOVQ_LEVELS - 1),
    )


def scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(beta_schedule="squaredcos_cap_v2", clip_sample=True, thresholding=False, steps_offset=1)


def pipeline(seed: int = 0):
    """The tiny Kandinsky3Pipeline itself, in memory (the same weights for the same seed)."""
    from diffusers import Kandinsky3Pipeline

    with toolkit.tiny.seeded(seed):
        tokenizer = toolkit.tokenizers.t5()
        return Kandinsky3Pipeline(
            tokenizer=tokenizer, text_encoder=text_encoder(len(tokenizer)), unet=unet(), scheduler=scheduler(), movq=movq()
        )


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny Kandinsky 3 checkpoint to `path`; ValueError for another family or any variant."""
    if family != KANDINSKY3:
        raise ValueError(f"autopipe_kandinsky.kandinsky3_tiny builds {KANDINSKY3} only, not {family!r}")
    if variant not in VARIANT_NAMES:
        raise toolkit.tiny.unknown_variant(family, variant, VARIANT_NAMES)
    path = Path(path)
    pipeline(seed).save_pretrained(path)
    return path
