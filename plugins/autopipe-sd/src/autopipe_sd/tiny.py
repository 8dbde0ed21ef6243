"""A tiny random-weight Stable Diffusion checkpoint, built offline in about a second.

The architecture is SD's (UNet2DConditionModel, AutoencoderKL, CLIP text
encoder and tokenizer, PNDM scheduler) at the toolkit's tiny sizes
(:mod:`autopipe_core.toolkit.tiny`), where a 2-step 64x64 call on a CPU takes
well under a second. The tokenizer is the toolkit's CLIP tokenizer over
characters, built in memory, so nothing is fetched from the hub.
"""

from __future__ import annotations

from pathlib import Path

from autopipe_core import toolkit

from . import FAMILY
from .plugin import INPAINTING

VARIANT_NAMES = (None, INPAINTING.name)


def build(path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny SD pipeline (or its inpainting-only variant) to `path` with save_pretrained."""
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

    if variant not in VARIANT_NAMES:
        raise toolkit.tiny.unknown_variant(FAMILY, variant, VARIANT_NAMES)
    inpainting = variant == INPAINTING.name
    with toolkit.tiny.seeded(seed):
        tokenizer = toolkit.tokenizers.clip_characters()
        components = dict(
            unet=toolkit.tiny.unet(in_channels=INPAINTING.value if inpainting else 4),
            vae=toolkit.tiny.vae(),
            text_encoder=toolkit.tiny.clip_text_encoder(len(tokenizer)),
            tokenizer=tokenizer,
            scheduler=toolkit.tiny.scheduler("PNDMScheduler", skip_prk_steps=True),
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
    vocabulary, so the core's CLIP tokenizer fits), renamed with
    :mod:`autopipe_sd.ldm`, and saved with safetensors. Detection recognises
    it as the "tiny" variant and from_single_file loads it offline: the same
    path a real SD 1.5 file takes, in a second.
    """
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    from .ldm import to_ldm
    from .single_file import FOLDERS

    unet_config, vae_config = FOLDERS.config("tiny", "unet"), FOLDERS.config("tiny", "vae")
    text = {k: v for k, v in FOLDERS.config("tiny", "text_encoder").items() if k != "architectures"}
    with toolkit.tiny.seeded(seed):
        unet_model = UNet2DConditionModel.from_config(unet_config)
        vae_model = AutoencoderKL.from_config(vae_config)
        text_model = CLIPTextModel(CLIPTextConfig(**text))
    state = to_ldm(unet_model.state_dict(), unet_config, vae_model.state_dict(), vae_config, text_model.state_dict())
    path = Path(path)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata={"format": "pt"})
    return path
