"""Tiny random-weight FLUX.1 and Chroma checkpoints, built offline in about a second.

The architecture is the real one at toy widths: FluxTransformer2DModel (one
double and one single block, 2 heads of 16, rotary axes 4 + 4 + 8) over the
toolkit's tiny CLIP text encoder (its pooled output, 32 wide) and T5 encoder
(32-wide token embeddings, T5's tokenizer padding prompts to 512 tokens as
FLUX's does), an AutoencoderKL with FLUX's 16 latent channels, four levels
(a factor of 8, as FLUX's: a 64x64 image is 8x8 latents, 16 tokens once packed
2x2) and no quant convolutions, scaling and shift factors as FLUX's, and
FlowMatchEulerDiscreteScheduler with dev's or schnell's settings. What tells
the kinds apart keeps its real value: the transformer takes 64 input
channels, 128 for Control, 384 for Fill (the mask packs 8 x 8 pixels a latent
pixel, 2x2 latent pixels a token, as FLUX's 8x VAE does); dev embeds the
guidance scale, schnell does not. About 0.5 M parameters in all.

Chroma: ChromaTransformer2DModel at the same widths (its modulation network 32
wide, one layer) over T5 alone, with schnell's scheduler settings, as
Chroma1-HD ships them. Its transformer config also carries
``guidance_embeds: false``, as Chroma1-HD's does (left from FLUX's config):
ChromaTransformer2DModel ignores the entry but keeps it in its config, and
diffusers 0.42.1's ChromaInpaintPipeline reads it (without it, it fails with
AttributeError: tests/test_flux_plugin.py checks that this is still so).

Tokenizers are built in memory (the toolkit's CLIP tokenizer over characters
and T5 Unigram tokenizer); nothing is fetched.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from autopipe_core import toolkit

from . import CHROMA, CONTROL, CONTROL_CHANNELS, FILL, FILL_CHANNELS, FLUX, KONTEXT, LATENT_CHANNELS

#: The tiny transformers' shape: 2 heads of 16 (rotary axes 4 + 4 + 8 = 16), one block of each kind; text 32 wide.
HEADS, HEAD_DIM, AXES = 2, 16, (4, 4, 8)
HIDDEN = toolkit.tiny.HIDDEN  # CLIP's pooled width and T5's width: the transformer's pooled_projection_dim and joint_attention_dim
#: The VAE: FLUX's 16 latent channels and its factor of 8 (four levels); the two factors as FLUX.1's VAE config has them.
VAE_BLOCKS = (16, 16, 32, 32)
SCALING_FACTOR, SHIFT_FACTOR = 0.3611, 0.1159

#: FlowMatchEulerDiscreteScheduler as FLUX.1-dev ships it (the shift grows with the image's token count) and as
#: FLUX.1-schnell and Chroma do (a fixed shift of 1).
DEV_SCHEDULE = MappingProxyType(dict(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096))
SCHNELL_SCHEDULE = MappingProxyType(dict(shift=1.0, use_dynamic_shifting=False, base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096))

SCHNELL = "schnell"
#: What the builder makes for each family: None is the ordinary checkpoint (FLUX.1-dev's kind, Chroma).
KINDS = MappingProxyType({FLUX: (None, SCHNELL, CONTROL, FILL, KONTEXT), CHROMA: (None,)})


def vae():
    """FLUX's VAE at toy width: 16 latent channels, four levels (8x), no quant convolutions, FLUX's scaling and shift."""
    return toolkit.tiny.vae(
        latent_channels=16, scaling_factor=SCALING_FACTOR, force_upcast=True, shift_factor=SHIFT_FACTOR,
        block_out_channels=VAE_BLOCKS, down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        use_quant_conv=False, use_post_quant_conv=False,
    )


def flux_transformer(in_channels: int = LATENT_CHANNELS, guidance: bool = True):
    """FluxTransformer2DModel at toy width; `in_channels` 128 (Control) or 384 (Fill) give 64 out, as those checkpoints say."""
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel(
        patch_size=1, in_channels=in_channels, out_channels=None if in_channels == LATENT_CHANNELS else LATENT_CHANNELS,
        num_layers=1, num_single_layers=1, attention_head_dim=HEAD_DIM, num_attention_heads=HEADS,
        joint_attention_dim=HIDDEN, pooled_projection_dim=HIDDEN, guidance_embeds=guidance, axes_dims_rope=AXES,
    )


def chroma_transformer():
    """ChromaTransformer2DModel at toy width, its config carrying Chroma1-HD's ``guidance_embeds: false`` (see the module's docstring)."""
    from diffusers import ChromaTransformer2DModel

    model = ChromaTransformer2DModel(
        patch_size=1, in_channels=LATENT_CHANNELS, num_layers=1, num_single_layers=1, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=HIDDEN, axes_dims_rope=AXES,
        approximator_num_channels=8, approximator_hidden_dim=HIDDEN, approximator_layers=1,
    )
    model.register_to_config(guidance_embeds=False)
    return model


def scheduler(schnell: bool = False):
    """FlowMatchEulerDiscreteScheduler with dev's settings, or schnell's (and Chroma's)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, **(SCHNELL_SCHEDULE if schnell else DEV_SCHEDULE))


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny checkpoint of `family` ("flux" or "chroma") to `path` with save_pretrained; returns `path`.

    flux: None is FLUX.1-dev's kind (FluxPipeline, guidance embedded);
    "schnell" the same class without the guidance embedding and with schnell's
    scheduler; "control" FluxControlPipeline with a 128-channel transformer;
    "fill" FluxFillPipeline with a 384-channel one; "kontext"
    FluxKontextPipeline with dev's transformer. chroma: ChromaPipeline. A
    variant the family does not build is a ValueError naming those it does.
    """
    from diffusers import ChromaPipeline, FluxControlPipeline, FluxFillPipeline, FluxKontextPipeline, FluxPipeline

    known = KINDS.get(family, ())
    if variant not in known:
        raise toolkit.tiny.unknown_variant(family, variant, known or (None,))
    with toolkit.tiny.seeded(seed):
        t5_tokenizer = toolkit.tokenizers.t5()
        t5 = toolkit.tiny.t5_encoder(len(t5_tokenizer))
        if family == CHROMA:
            pipeline = ChromaPipeline(
                scheduler=scheduler(schnell=True), vae=vae(), text_encoder=t5, tokenizer=t5_tokenizer, transformer=chroma_transformer(),
            )
        else:
            tokenizer = toolkit.tokenizers.clip_characters()
            common = dict(
                vae=vae(), text_encoder=toolkit.tiny.clip_text_encoder(len(tokenizer)), tokenizer=tokenizer,
                text_encoder_2=t5, tokenizer_2=t5_tokenizer, scheduler=scheduler(schnell=variant == SCHNELL),
            )
            if variant == CONTROL:
                pipeline = FluxControlPipeline(transformer=flux_transformer(CONTROL_CHANNELS), **common)
            elif variant == FILL:
                pipeline = FluxFillPipeline(transformer=flux_transformer(FILL_CHANNELS), **common)
            else:
                cls = FluxKontextPipeline if variant == KONTEXT else FluxPipeline
                pipeline = cls(transformer=flux_transformer(guidance=variant != SCHNELL), **common)
    pipeline.save_pretrained(path)
    return Path(path)
