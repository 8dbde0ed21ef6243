"""Tiny random-weight Stable Cascade and Würstchen checkpoints, built offline in a few seconds.

``build("cascade", path)`` writes a decoder folder (StableCascadeDecoderPipeline:
a Stage B StableCascadeUNet, the Paella VQGAN, a CLIP text encoder with
projection, the toolkit's CLIP tokenizer over characters,
DDPMWuerstchenScheduler) with its prior beside its components, ``path/prior``
(StableCascadePriorPipeline: a Stage C StableCascadeUNet, a CLIP text encoder
with projection, a CLIP vision encoder with projection and its
CLIPImageProcessor, as stabilityai/stable-cascade-prior has them), and a
README.md whose model card names the prior by the relative path ``prior``, as
stabilityai/stable-cascade's names stabilityai/stable-cascade-prior.

``build("wuerstchen", path)`` does the same for Würstchen: a
WuerstchenDecoderPipeline (WuerstchenDiffNeXt, Paella VQGAN, CLIPTextModel)
and a WuerstchenPriorPipeline (WuerstchenPrior, CLIPTextModel) in ``prior/``.

Shapes are the real ones' where they must agree (the prior's 16 latent
channels are the decoder's effnet input; the pipelines' resolution_multiple
42.67 and latent_dim_scale 10.67, which the combined pipelines hard-code
whatever the saved configs say, so a 128x128 call runs the prior on 3x3
latents and the decoder on 32x32), shrunk elsewhere to widths of 16 and 32,
one block a level: a 2-step 128x128 call of a combined pipeline takes about
0.1 s on one CPU core. The Stage B and Stage C constructor arguments are
:data:`STAGE_B` and :data:`STAGE_C` (this plugin ships them as the
``stage-b-tiny`` and ``stage-c-tiny`` single-file configs too).

One difference on purpose: the tiny decoders take 1x1 patches (the real
Stage B and Würstchen decoder take 2x2), and the tiny Würstchen decoder has
one level (the real one four), so that they take any latent side. The
autopipe command line calls a built-in tiny checkpoint at 64x64, which these
pipelines turn into 2x2 prior latents and 21x21 decoder latents (the ratios
above); a real decoder's 2x2 patches need an even side, so real checkpoints
cannot draw 64x64 (diffusers fails the same way): they draw at 128, 512,
1024. The tiny ones return 84x84 for 64x64, as the ratios give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from autopipe_core import toolkit

from . import CASCADE, FAMILIES, WUERSTCHEN

HIDDEN = 32  # text encoders' width and projection (CLIP ViT-bigG/14: 1280)
LATENT = 16  # the prior's latent channels = the decoder's effnet input (as the real ones)
IMAGE_SIZE = 32  # the tiny CLIP vision encoder's input (ViT-L/14: 224)
PRIOR_FOLDER = "prior"

_RES = "SDCascadeResBlock"
_TIME = "SDCascadeTimestepBlock"
_ATTN = "SDCascadeAttnBlock"

#: Stage B (the Stable Cascade decoder), shrunk: stabilityai/stable-cascade's decoder has 4 levels of 320 to 1280.
STAGE_B: Mapping[str, Any] = {
    "in_channels": 4, "out_channels": 4, "conditioning_dim": HIDDEN, "block_out_channels": [16, 32],
    "num_attention_heads": [0, 2], "down_num_layers_per_block": [1, 1], "up_num_layers_per_block": [1, 1],
    "down_blocks_repeat_mappers": [1, 1], "up_blocks_repeat_mappers": [1, 1],
    "block_types_per_layer": [[_RES, _TIME], [_RES, _TIME, _ATTN]], "switch_level": None,
    "clip_text_pooled_in_channels": HIDDEN, "clip_text_in_channels": None, "clip_image_in_channels": None, "clip_seq": 4,
    "effnet_in_channels": LATENT, "pixel_mapper_in_channels": 3, "patch_size": 1, "kernel_size": 3,
    "dropout": [0.0, 0.0], "self_attn": True, "timestep_conditioning_type": ["sca"], "timestep_ratio_embedding_dim": 64,
}
#: Stage C (the Stable Cascade prior), shrunk: stabilityai/stable-cascade-prior's has 2 levels of 2048.
STAGE_C: Mapping[str, Any] = {
    "in_channels": LATENT, "out_channels": LATENT, "conditioning_dim": HIDDEN, "block_out_channels": [HIDDEN, HIDDEN],
    "num_attention_heads": [2, 2], "down_num_layers_per_block": [1, 1], "up_num_layers_per_block": [1, 1],
    "down_blocks_repeat_mappers": [1, 1], "up_blocks_repeat_mappers": [1, 1],
    "block_types_per_layer": [[_RES, _TIME, _ATTN], [_RES, _TIME, _ATTN]], "switch_level": [False],
    "clip_text_pooled_in_channels": HIDDEN, "clip_text_in_channels": HIDDEN, "clip_image_in_channels": HIDDEN, "clip_seq": 4,
    "effnet_in_channels": None, "pixel_mapper_in_channels": None, "patch_size": 1, "kernel_size": 3,
    "dropout": [0.0, 0.0], "self_attn": True, "timestep_conditioning_type": ["sca", "crp"], "timestep_ratio_embedding_dim": 64,
}


def model_card(prior: str, family: str) -> str:
    """A README.md whose YAML front matter names the prior, as diffusers reads it (key "prior", a list)."""
    title = "Stable Cascade" if family == CASCADE else "Würstchen"
    return f"---\nprior:\n- {prior}\ntags:\n- {family}\n---\n\nA tiny random-weight {title} decoder for tests; its prior is in `{prior}/`.\n"


def text_encoder(tokenizer: Any, projection: bool) -> Any:
    """CLIPTextModelWithProjection (Stable Cascade's, pooled output projected) or CLIPTextModel (Würstchen's)."""
    return toolkit.tiny.clip_text_encoder(
        len(tokenizer), HIDDEN, projection_dim=HIDDEN if projection else None, intermediate_size=37,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )


def vqgan() -> Any:
    """The Paella VQGAN (Stage A), shrunk: 4 latent channels, a 4x up/down scale over 2 levels (the real one's 384 wide)."""
    from diffusers.pipelines.deprecated.wuerstchen import PaellaVQModel

    return PaellaVQModel(
        in_channels=3, out_channels=3, up_down_scale_factor=2, levels=2, bottleneck_blocks=1, embed_dim=16,
        latent_channels=4, num_vq_embeddings=8, scale_factor=0.3764,
    )


def stable_cascade_prior() -> Any:
    from diffusers import DDPMWuerstchenScheduler, StableCascadePriorPipeline, StableCascadeUNet
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    tokenizer = toolkit.tokenizers.clip_characters()
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=HIDDEN, projection_dim=HIDDEN, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
            image_size=IMAGE_SIZE, patch_size=8, num_channels=3,
        )
    )
    feature_extractor = CLIPImageProcessor(
        crop_size=IMAGE_SIZE, size=IMAGE_SIZE, do_center_crop=True, do_normalize=True, do_resize=True, resample=3,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    return StableCascadePriorPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder(tokenizer, projection=True), prior=StableCascadeUNet(**STAGE_C),
        scheduler=DDPMWuerstchenScheduler(), feature_extractor=feature_extractor, image_encoder=image_encoder,
    )


def stable_cascade_decoder() -> Any:
    from diffusers import DDPMWuerstchenScheduler, StableCascadeDecoderPipeline, StableCascadeUNet

    tokenizer = toolkit.tokenizers.clip_characters()
    return StableCascadeDecoderPipeline(
        decoder=StableCascadeUNet(**STAGE_B), tokenizer=tokenizer, text_encoder=text_encoder(tokenizer, projection=True),
        scheduler=DDPMWuerstchenScheduler(), vqgan=vqgan(),
    )


def wuerstchen_prior() -> Any:
    from diffusers import DDPMWuerstchenScheduler, WuerstchenPriorPipeline
    from diffusers.pipelines.deprecated.wuerstchen import WuerstchenPrior

    tokenizer = toolkit.tokenizers.clip_characters()
    prior = WuerstchenPrior(c_in=LATENT, c=HIDDEN, c_cond=HIDDEN, c_r=8, depth=1, nhead=2, dropout=0.0)
    return WuerstchenPriorPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder(tokenizer, projection=False), prior=prior, scheduler=DDPMWuerstchenScheduler()
    )


def wuerstchen_decoder() -> Any:
    from diffusers import DDPMWuerstchenScheduler, WuerstchenDecoderPipeline
    from diffusers.pipelines.deprecated.wuerstchen import WuerstchenDiffNeXt

    tokenizer = toolkit.tokenizers.clip_characters()
    decoder = WuerstchenDiffNeXt(
        c_in=4, c_out=4, c_r=8, patch_size=1, c_cond=HIDDEN, c_hidden=[HIDDEN], nhead=[2], blocks=[1],
        level_config=["CTA"], inject_effnet=[True], effnet_embd=LATENT, clip_embd=HIDDEN, kernel_size=3, dropout=0.0,
    )
    return WuerstchenDecoderPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder(tokenizer, projection=False), decoder=decoder,
        scheduler=DDPMWuerstchenScheduler(), vqgan=vqgan(),
    )


_BUILDERS = {CASCADE: (stable_cascade_prior, stable_cascade_decoder), WUERSTCHEN: (wuerstchen_prior, wuerstchen_decoder)}


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny decoder of `family` to `path`, its prior to `path/prior`, and a model card naming it; return `path`.

    `variant` must be None (neither family has a variant: a ValueError
    otherwise, as for a family that is not this plugin's); the same `seed`
    gives the same weights.
    """
    if family not in FAMILIES:
        raise ValueError(f"autopipe-cascade has no family {family!r}; it has {', '.join(FAMILIES)}")
    if variant is not None:
        raise toolkit.tiny.unknown_variant(family, variant, (None,))
    path = Path(path)
    make_prior, make_decoder = _BUILDERS[family]
    with toolkit.tiny.seeded(seed):
        prior, decoder = make_prior(), make_decoder()
    prior.save_pretrained(path / PRIOR_FOLDER)
    decoder.save_pretrained(path)
    (path / "README.md").write_text(model_card(PRIOR_FOLDER, family))
    return path
