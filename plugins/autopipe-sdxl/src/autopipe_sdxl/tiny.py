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
about a quarter of a million parameters. Tokenizers are built in memory; nothing is fetched.
"""

from __future__ import annotations

import string
from pathlib import Path

from . import ADD_TIME_EMBED_DIM, FP16_SAFE_VAE, INPAINTING, LATENTS_NORMALISED, POOLED_DIM, REFINER

HIDDEN_1 = 32  # text_encoder (CLIP ViT-L/14 in SDXL: 768)
HIDDEN_2 = 48  # text_encoder_2 (OpenCLIP ViT-bigG/14: 1280)
VARIANT_NAMES = (None, REFINER.name, INPAINTING.name, LATENTS_NORMALISED.name, FP16_SAFE_VAE)


def clip_tokenizer(pad_token: str = "<|endoftext|>"):
    """A CLIP BPE tokenizer over single characters: real tokenization, no merges, no download."""
    from transformers import CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>"]
    chars = string.ascii_lowercase + string.digits + string.punctuation
    pieces = specials + list(chars) + [c + "</w>" for c in chars]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77, pad_token=pad_token)


def clip_text_encoder(vocab_size: int, hidden: int, projection_dim: int | None = None):
    """CLIPTextModel, or CLIPTextModelWithProjection when projection_dim is given (SDXL's second encoder)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=projection_dim or hidden,
        hidden_act="gelu",
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return (CLIPTextModel if projection_dim is None else CLIPTextModelWithProjection)(config)


def unet(in_channels: int = 4, refiner: bool = False):
    """SDXL's UNet at a tiny width. The base attends to both encoders' states, the refiner to the second's only."""
    from diffusers import UNet2DConditionModel

    time_ids = 5 if refiner else 6  # refiner: aesthetic score in place of the target size (2 numbers)
    return UNet2DConditionModel(
        sample_size=32,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        cross_attention_dim=HIDDEN_2 if refiner else HIDDEN_1 + HIDDEN_2,
        addition_embed_type="text_time",
        addition_time_embed_dim=ADD_TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=POOLED_DIM + time_ids * ADD_TIME_EMBED_DIM,
    )


def vae(force_upcast: bool = True, normalised: bool = False):
    """The tiny VAE; `normalised` gives it latents_mean and latents_std, as Playground v2.5's has."""
    from diffusers import AutoencoderKL

    stats = {"latents_mean": [0.0, 0.0, 0.0, 0.0], "latents_std": [1.0, 1.0, 1.0, 1.0]} if normalised else {}
    return AutoencoderKL(
        **stats,
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=0.13025,
        force_upcast=force_upcast,
    )


def scheduler():
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )


def build(path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny SDXL checkpoint of this variant to `path` with save_pretrained.

    None: the base (StableDiffusionXLPipeline, two text encoders). "refiner":
    StableDiffusionXLImg2ImgPipeline without the first text encoder and
    tokenizer, requires_aesthetics_score true. "inpainting-only":
    StableDiffusionXLInpaintPipeline with a 9-channel UNet. "latents-normalised":
    the base with a VAE that has latents_mean and latents_std. "fp16-safe-vae":
    the base with a VAE whose config says force_upcast false.
    """
    import torch
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLInpaintPipeline, StableDiffusionXLPipeline

    if variant not in VARIANT_NAMES:
        choices = ", ".join(repr(v) for v in VARIANT_NAMES)
        raise ValueError(f"stable-diffusion-xl has no tiny variant {variant!r}; choose one of {choices}")
    torch.manual_seed(seed)
    tokenizer_2 = clip_tokenizer(pad_token="!")
    common = dict(
        vae=vae(force_upcast=variant != FP16_SAFE_VAE, normalised=variant == LATENTS_NORMALISED.name),
        text_encoder_2=clip_text_encoder(len(tokenizer_2), HIDDEN_2, projection_dim=POOLED_DIM),
        tokenizer_2=tokenizer_2,
        scheduler=scheduler(),
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
        tokenizer = clip_tokenizer()
        first = dict(text_encoder=clip_text_encoder(len(tokenizer), HIDDEN_1), tokenizer=tokenizer)
        if variant == INPAINTING.name:
            pipeline = StableDiffusionXLInpaintPipeline(unet=unet(in_channels=INPAINTING.value), **first, **common)
        else:
            pipeline = StableDiffusionXLPipeline(unet=unet(), **first, **common)
    pipeline.save_pretrained(path)
    return Path(path)
