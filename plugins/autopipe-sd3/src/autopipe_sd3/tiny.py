"""Tiny random-weight Stable Diffusion 3 checkpoints, built offline in a second or two.

The architecture is SD 3.5's at a tiny width: an MMDiT (``SD3Transformer2DModel``,
2 joint blocks, 4 heads of 8, RMS query/key norms, 2x2 patches), two CLIP
text encoders with projection (32 and 48 wide, as CLIP ViT-L and OpenCLIP
ViT-bigG are 768 and 1280: their pooled outputs together, 80, are the
transformer's ``pooled_projection_dim``, as 768 + 1280 = 2048 is), a T5
encoder 96 wide (``joint_attention_dim``: SD3 pads the CLIP states, 32 + 48,
to T5's width, as 2048 to 4096), three tokenizers built in memory (CLIP over
characters, the second padding with "!" as SD3's does; T5 over Unigram
characters), an ``AutoencoderKL`` with 16 latent channels and SD3's scaling
and shift factors, no quant convolutions, and ``FlowMatchEulerDiscreteScheduler``
with SD3's shift of 3.0. A 64x64 image is 32x32 latents, 16x16 patches.

Widths are tiny, so a 2-step 64x64 call takes a fraction of a second on a
CPU. The two CLIP encoders must differ in width: diffusers' single-file loader
tells SD3's CLIP-L from its CLIP-G by the width of their position embeddings.
Sizes after diffusers' own fast tests (tests/pipelines/stable_diffusion_3).
"""

from __future__ import annotations

from pathlib import Path

from autopipe_core import toolkit

from . import FAMILY, LATENT_CHANNELS, SCALING_FACTOR, SHIFT_FACTOR
from .plugin import INPAINTING

CLIP_L = 32  # text_encoder: CLIP ViT-L/14 in SD3, 768 wide
CLIP_G = 48  # text_encoder_2: OpenCLIP ViT-bigG/14, 1280 wide
T5 = 96  # text_encoder_3: T5-v1.1-XXL, 4096 wide; >= CLIP_L + CLIP_G, as SD3 pads the CLIP states to it
HEADS, HEAD_DIM = 4, 8  # 32 wide: the transformer's inner width (SD 3.5 Large: 38 x 64)
LAYERS = 2  # PAG's default layer is "blocks.1": two blocks, the last one context_pre_only as in every SD3
SAMPLE_SIZE = 32  # latents of a 64x64 image (the tiny VAE downsamples by 2)
POS_EMBED_MAX_SIZE = 16  # patches per side the position table holds: 64x64 images, 2x2 patches of 32x32 latents
FLOW_SHIFT = 3.0  # FlowMatchEulerDiscreteScheduler's shift in SD 3, 3.5 medium and large

VARIANT_NAMES = (None, INPAINTING.name)


def transformer(in_channels: int = LATENT_CHANNELS):
    """The tiny MMDiT; `in_channels` 33 (latents, mask, masked-image latents) for the inpainting-only variant."""
    from diffusers import SD3Transformer2DModel

    return SD3Transformer2DModel(
        sample_size=SAMPLE_SIZE,
        patch_size=2,
        in_channels=in_channels,
        out_channels=LATENT_CHANNELS,
        num_layers=LAYERS,
        attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS,
        caption_projection_dim=HEADS * HEAD_DIM,
        joint_attention_dim=T5,
        pooled_projection_dim=CLIP_L + CLIP_G,
        pos_embed_max_size=POS_EMBED_MAX_SIZE,
        qk_norm="rms_norm",
    )


def vae():
    """The toolkit's tiny VAE with SD3's 16 latent channels, scaling and shift factors, and no quant convolutions."""
    return toolkit.tiny.vae(
        latent_channels=LATENT_CHANNELS, scaling_factor=SCALING_FACTOR, shift_factor=SHIFT_FACTOR,
        use_quant_conv=False, use_post_quant_conv=False,
    )


def scheduler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=FLOW_SHIFT)


def components(in_channels: int = LATENT_CHANNELS) -> dict:
    """Every component of a tiny SD3 pipeline, built in the order the seed expects (call inside ``toolkit.tiny.seeded``)."""
    import torch

    tokenizer = toolkit.tokenizers.clip_characters()
    tokenizer_2 = toolkit.tokenizers.clip_characters(pad_token="!")
    tokenizer_3 = toolkit.tokenizers.t5()
    text_encoder = toolkit.tiny.clip_text_encoder(len(tokenizer), CLIP_L, projection_dim=CLIP_L)
    # diffusers' single-file loader gives SD3's CLIP-L an identity projection (text_projection = eye): so does the tiny one,
    # so that its single file loads the very weights of the folder.
    text_encoder.text_projection.weight.data = torch.eye(CLIP_L)
    return dict(
        transformer=transformer(in_channels),
        vae=vae(),
        text_encoder=text_encoder,
        text_encoder_2=toolkit.tiny.clip_text_encoder(len(tokenizer_2), CLIP_G, projection_dim=CLIP_G, hidden_act="gelu"),
        text_encoder_3=toolkit.tiny.t5_encoder(len(tokenizer_3), T5),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        tokenizer_3=tokenizer_3,
        scheduler=scheduler(),
    )


def build(path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny SD3 checkpoint to `path` with save_pretrained; returns `path`.

    None: ``StableDiffusion3Pipeline`` with all three text encoders.
    "inpainting-only": ``StableDiffusion3InpaintPipeline`` whose transformer
    takes 33 input channels (16 latent, 1 mask, 16 masked-image latent), the
    layout diffusers' SD3 inpainting pipeline feeds such a transformer. Any
    other variant is a ValueError. About 1 MB on disk.
    """
    from diffusers import StableDiffusion3InpaintPipeline, StableDiffusion3Pipeline

    if variant not in VARIANT_NAMES:
        raise toolkit.tiny.unknown_variant(FAMILY, variant, VARIANT_NAMES)
    with toolkit.tiny.seeded(seed):
        if variant == INPAINTING.name:
            pipeline = StableDiffusion3InpaintPipeline(**components(INPAINTING.value))
        else:
            pipeline = StableDiffusion3Pipeline(**components())
    pipeline.save_pretrained(path)
    return Path(path)


#: The config keys that name the library version that wrote them: left out of the shipped folders, so that writing
#: them again with another release gives the same files.
VERSION_KEYS = ("_diffusers_version", "transformers_version", "_name_or_path", "dtype", "torch_dtype")


def write_config_folder(folder: Path) -> Path:
    """Write the "sd3-tiny" config folder this plugin ships: the tiny checkpoint's configs and tokenizers, no weights.

    Its tokenizer folders hold their tiny vocabularies (a few kilobytes), so
    the tiny checkpoint written as one file loads with exactly the tokenizers
    it was built with; the full-size folders hold none (see
    :mod:`autopipe_sd3.single_file`).
    """
    import json
    import shutil
    import tempfile

    folder = Path(folder)
    with tempfile.TemporaryDirectory() as tmp:
        saved = build(Path(tmp) / "tiny")
        for source in sorted(saved.rglob("*")):
            if not source.is_file() or source.suffix == ".safetensors":
                continue
            target = folder / source.relative_to(saved)
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.suffix == ".json" and source.name != "tokenizer.json":
                config = {k: v for k, v in json.loads(source.read_text(encoding="utf-8")).items() if k not in VERSION_KEYS}
                target.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            else:
                shutil.copyfile(source, target)
    return folder
