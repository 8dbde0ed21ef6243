"""A tiny random-weight Stable Diffusion checkpoint, built offline in about a second.

The architecture is SD's (UNet2DConditionModel, AutoencoderKL, CLIP text
encoder and tokenizer, PNDM scheduler) at a size that runs a 2-step 64x64
call on a CPU in well under a second. The tokenizer is built in memory from a
character vocabulary, so nothing is fetched from the hub.
"""

from __future__ import annotations

import string
from pathlib import Path

from . import INPAINTING

HIDDEN = 32


def clip_tokenizer():
    """A CLIP BPE tokenizer over single characters: real tokenization, no merges, no download."""
    from transformers import CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>"]
    chars = string.ascii_lowercase + string.digits + string.punctuation
    pieces = specials + list(chars) + [c + "</w>" for c in chars]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def clip_text_encoder(vocab_size: int, hidden: int = HIDDEN, projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=hidden,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def unet(in_channels: int = 4, cross_attention_dim: int = HIDDEN, **extra):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=32,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=4,
        **extra,
    )


def vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
    )


def build(path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny SD pipeline (or its inpainting-only variant) to `path` with save_pretrained."""
    import torch
    from diffusers import PNDMScheduler, StableDiffusionInpaintPipeline, StableDiffusionPipeline

    if variant not in (None, INPAINTING.name):
        raise ValueError(f"stable-diffusion has no tiny variant {variant!r}; choose None or {INPAINTING.name!r}")
    torch.manual_seed(seed)
    tokenizer = clip_tokenizer()
    inpainting = variant == INPAINTING.name
    components = dict(
        unet=unet(in_channels=INPAINTING.value if inpainting else 4),
        vae=vae(),
        text_encoder=clip_text_encoder(len(tokenizer)),
        tokenizer=tokenizer,
        scheduler=PNDMScheduler(skip_prk_steps=True, steps_offset=1, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline_class = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
    pipeline_class(**components).save_pretrained(path)
    return Path(path)


def build_single_file(path: Path, seed: int = 0) -> Path:
    """Write a tiny random-weight SD checkpoint as one .safetensors file in the original (LDM) layout.

    Its components are built from the "tiny" config folder this plugin ships
    for single files (``configs/tiny``; text encoder over the full CLIP
    vocabulary, so the shipped BPE tokenizer fits), renamed with
    :mod:`autopipe_sd.ldm`, and saved with safetensors. Detection recognises
    it as the "tiny" variant and from_single_file loads it offline: the same
    path a real SD 1.5 file takes, in a second.
    """
    import json

    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    from .ldm import to_ldm
    from .single_file import config_folder

    folder = config_folder("tiny")
    read = lambda name: json.loads((folder / name / "config.json").read_text())  # noqa: E731
    torch.manual_seed(seed)
    unet_config, vae_config = read("unet"), read("vae")
    unet_model = UNet2DConditionModel.from_config(unet_config)
    vae_model = AutoencoderKL.from_config(vae_config)
    text = {k: v for k, v in read("text_encoder").items() if k != "architectures"}
    text_model = CLIPTextModel(CLIPTextConfig(**text))
    state = to_ldm(unet_model.state_dict(), unet_config, vae_model.state_dict(), vae_config, text_model.state_dict())
    path = Path(path)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata={"format": "pt"})
    return path
