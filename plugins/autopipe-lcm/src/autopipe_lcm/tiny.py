"""A tiny random-weight LCM checkpoint, built offline in about a second, for tests and ``autopipe demo``.

The architecture is LCM's: a UNet2DConditionModel that takes the guidance
scale as an embedding (``time_cond_proj_dim``), an LCMScheduler, an
AutoencoderKL and a CLIP text encoder, at the sizes of autopipe's toolkit
(``autopipe_core.toolkit.tiny``: blocks of 16 and 32 channels, a 2-layer
text encoder 32 wide), where a 2-step 64x64 call takes well under a second
on a CPU. The tokenizer is the toolkit's CLIP BPE tokenizer over single
characters, made in memory, so nothing is downloaded. No safety checker:
``requires_safety_checker`` is false, as for every tiny checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from autopipe_core import toolkit

from . import FAMILY

#: Width of the UNet's guidance-scale embedding (LCM_Dreamshaper_v7: 256); the LCM pipelines read it from the UNet
#: config and embed the guidance scale in that many values.
TIME_COND_PROJ_DIM = 32


def build(path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny LatentConsistencyModelPipeline to `path` with save_pretrained; return the path.

    `variant` must be None: the family has no variant (ValueError otherwise,
    naming what it builds). `seed` fixes the random weights: the same seed
    gives the same files.
    """
    from diffusers import LatentConsistencyModelPipeline

    if variant is not None:
        raise toolkit.tiny.unknown_variant(FAMILY, variant, (None,))
    with toolkit.tiny.seeded(seed):
        tokenizer = toolkit.tokenizers.clip_characters()
        text_encoder = toolkit.tiny.clip_text_encoder(len(tokenizer))
        unet = toolkit.tiny.unet(time_cond_proj_dim=TIME_COND_PROJ_DIM)
        vae = toolkit.tiny.vae()
    scheduler = toolkit.tiny.scheduler("LCMScheduler", timestep_spacing="leading")
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
