"""A tiny random-weight LCM checkpoint, built offline in about a second, for tests and ``autopipe demo``.

The architecture is LCM's: a UNet2DConditionModel that takes the guidance
scale as an embedding (``time_cond_proj_dim``), an LCMScheduler, an
AutoencoderKL and a CLIP text encoder, at a size where a 2-step 64x64 call
takes well under a second on a CPU. The tokenizer is a CLIP BPE tokenizer
over single characters made in memory, so nothing is downloaded.
"""

from __future__ import annotations

import string
from pathlib import Path

HIDDEN = 32
#: The size of the UNet's guidance-scale embedding; LCM pipelines read it from the UNet config.
TIME_COND_PROJ_DIM = 32


def clip_tokenizer():
    from transformers import CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>"]
    chars = string.ascii_lowercase + string.digits + string.punctuation
    pieces = specials + list(chars) + [c + "</w>" for c in chars]
    return CLIPTokenizer(vocab={piece: i for i, piece in enumerate(pieces)}, merges=[], model_max_length=77)


def build(path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny LatentConsistencyModelPipeline to `path` with save_pretrained."""
    import torch
    from diffusers import AutoencoderKL, LatentConsistencyModelPipeline, LCMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    if variant is not None:
        raise ValueError(f"latent-consistency has no tiny variant {variant!r}; it has only its ordinary checkpoint")
    torch.manual_seed(seed)
    tokenizer = clip_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=HIDDEN,
            intermediate_size=2 * HIDDEN,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=HIDDEN,
        attention_head_dim=4,
        time_cond_proj_dim=TIME_COND_PROJ_DIM,
    )
    vae = AutoencoderKL(
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
    scheduler = LCMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, timestep_spacing="leading", steps_offset=1)
    pipeline = LatentConsistencyModelPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(path)
    return Path(path)
