"""Tiny random-weight SDXL checkpoints (base, refiner, inpainting-only, fp16-safe VAE), built offline in seconds.

The architecture is SDXL's: two CLIP text encoders (the second with a
projection, whose pooled output joins the micro-conditioning), two
tokenizers, a UNet with ``addition_embed_type="text_time"`` and several
transformer layers per block, an AutoencoderKL that asks to be upcast, and
the Euler scheduler. Widths are tiny (a 2-step 64x64 call takes a fraction of
a second on a CPU) except the two that make up the UNet's
``projection_class_embeddings_input_dim``: text_encoder_2's projection (1280)
and ``addition_time_embed_dim`` (256) keep their full-size values, so the tiny
base carries 2816 and the tiny refiner 2560 like the real ones, and the
refiner Variant is tested on the number real checkpoints have. That costs
about a quarter of a million parameters. Tokenizers are built in memory (the toolkit's
CLIP tokenizer over characters); nothing is fetched.
"""

from __future__ import annotations

from pathlib import Path

from autopipe_core import toolkit

from . import ADD_TIME_EMBED_DIM, FAMILY, POOLED_DIM
from .plugin import FP16_SAFE_VAE, INPAINTING, LATENTS_NORMALISED, REFINER

HIDDEN_1 = 32  # text_encoder (CLIP ViT-L/14 in SDXL: 768)
HIDDEN_2 = 48  # text_encoder_2 (OpenCLIP ViT-bigG/14: 1280)
VARIANT_NAMES = (None, REFINER.name, INPAINTING.name, LATENTS_NORMALISED.name, FP16_SAFE_VAE)


def unet(in_channels: int = 4, refiner: bool = False):
    """SDXL's UNet at the toolkit's tiny width, with SDXL's linear projections and two transformer layers in the second block.

    The base attends to both encoders' states, the refiner to the second's
    only; the refiner embeds an aesthetic score in place of the target size
    (5 time ids against 6).
    """
    time_ids = 5 if refiner else 6
    return toolkit.tiny.unet(
        in_channels,
        cross_attention_dim=HIDDEN_2 if refiner else HIDDEN_1 + HIDDEN_2,
        addition_time_embed_dim=ADD_TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=POOLED_DIM + time_ids * ADD_TIME_EMBED_DIM,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
    )


def vae(force_upcast: bool = True, normalised: bool = False):
    """The toolkit's tiny VAE with SDXL's scaling factor; `normalised` gives it latents_mean and latents_std, as Playground v2.5's has."""
    stats = {"latents_mean": [0.0] * 4, "latents_std": [1.0] * 4} if normalised else {}
    return toolkit.tiny.vae(scaling_factor=0.13025, force_upcast=force_upcast, **stats)


def build(path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny SDXL checkpoint of this variant to `path` with save_pretrained.

    None: the base (StableDiffusionXLPipeline, two text encoders). "refiner":
    StableDiffusionXLImg2ImgPipeline without the first text encoder and
    tokenizer, requires_aesthetics_score true. "inpainting-only":
    StableDiffusionXLInpaintPipeline with a 9-channel UNet. "latents-normalised":
    the base with a VAE that has latents_mean and latents_std. "fp16-safe-vae":
    the base with a VAE whose config says force_upcast false.
    """
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLInpaintPipeline, StableDiffusionXLPipeline

    if variant not in VARIANT_NAMES:
        raise toolkit.tiny.unknown_variant(FAMILY, variant, VARIANT_NAMES)
    with toolkit.tiny.seeded(seed):
        tokenizer_2 = toolkit.tokenizers.clip_characters(pad_token="!")
        common = dict(
            vae=vae(force_upcast=variant != FP16_SAFE_VAE, normalised=variant == LATENTS_NORMALISED.name),
            text_encoder_2=toolkit.tiny.clip_text_encoder(len(tokenizer_2), HIDDEN_2, projection_dim=POOLED_DIM, hidden_act="gelu"),
            tokenizer_2=tokenizer_2,
            scheduler=toolkit.tiny.scheduler("EulerDiscreteScheduler", timestep_spacing="leading"),
            add_watermarker=False,
        )
        if variant == REFINER.name:
            pipeline = StableDiffusionXLImg2ImgPipeline(
                unet=unet(refiner=True),
                text_encoder=None,
                tokenizer=None,
                requires_aesthetics_score=True,
                force_zeros_for_empty_prompt=False,
                **common,
            )
        else:
            tokenizer = toolkit.tokenizers.clip_characters()
            first = dict(text_encoder=toolkit.tiny.clip_text_encoder(len(tokenizer), HIDDEN_1, hidden_act="gelu"), tokenizer=tokenizer)
            if variant == INPAINTING.name:
                pipeline = StableDiffusionXLInpaintPipeline(unet=unet(in_channels=INPAINTING.value), **first, **common)
            else:
                pipeline = StableDiffusionXLPipeline(unet=unet(), **first, **common)
    pipeline.save_pretrained(path)
    return Path(path)
