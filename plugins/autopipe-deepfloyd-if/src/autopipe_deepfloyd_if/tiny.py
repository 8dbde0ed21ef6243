"""A tiny random-weight DeepFloyd IF stage I checkpoint, built offline in about a second.

The architecture is stage I's: a T5 encoder (gated-GELU, as T5-v1.1-XXL) and
its Unigram tokenizer, a pixel-space UNet2DConditionModel (3 channels in, 6
out: the noise and the learned variance range; T5's hidden states projected
by encoder_hid_dim and pooled by the "text" addition embedding; simple
cross-attention blocks with group-norm), and the DDPM scheduler with the
learned-range variance and dynamic thresholding stage I was converted with.
No safety checker, feature extractor or watermarker. At 16x16 a 2-step call
takes a few hundredths of a second on a CPU. The tokenizer is the toolkit's T5
tokenizer, built in memory from (piece, score) pairs, so nothing is fetched
from the hub.
"""

from __future__ import annotations

from pathlib import Path

from autopipe_core import toolkit

from . import FAMILY

HIDDEN = 32
SAMPLE_SIZE = 16
MAX_LENGTH = 77  # IF's encode_prompt pads and truncates T5 input to 77 tokens


def t5_tokenizer():
    """The toolkit's T5 (Unigram) tokenizer over characters, at IF's 77 tokens: no spiece.model, no sentencepiece, no download."""
    return toolkit.tokenizers.t5(model_max_length=MAX_LENGTH)


def unet(text_hidden: int = HIDDEN):
    """Stage I's UNet, shrunk: pixel space, learned variance, T5 states in through encoder_hid_dim.

    The toolkit's tiny UNet sizes (blocks of 16 and 32, one layer, 8 groups)
    with stage I's blocks: simple cross-attention with group norm, scale-shift
    time embedding, the pooled text as the "text" addition embedding.
    """
    return toolkit.tiny.unet(
        3,
        32,
        sample_size=SAMPLE_SIZE,
        out_channels=6,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        encoder_hid_dim=text_hidden,
        attention_head_dim=8,
        addition_embed_type="text",
        addition_embed_type_num_heads=2,
        cross_attention_norm="group_norm",
        resnet_time_scale_shift="scale_shift",
        act_fn="gelu",
    )


def scheduler():
    """The DDPM scheduler stage I ships with (diffusers' scripts/convert_if.py)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        beta_schedule="squaredcos_cap_v2",
        prediction_type="epsilon",
        variance_type="learned_range",
        thresholding=True,
        dynamic_thresholding_ratio=0.95,
        sample_max_value=1.5,
    )


def build(path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny IF stage I pipeline to `path` with save_pretrained."""
    if variant is not None:
        raise toolkit.tiny.unknown_variant(FAMILY, variant, (None,))
    from diffusers import IFPipeline

    with toolkit.tiny.seeded(seed):
        tokenizer = t5_tokenizer()
        text_encoder = toolkit.tiny.t5_encoder(len(tokenizer), HIDDEN)
        pipeline = IFPipeline(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            unet=unet(text_encoder.config.d_model),
            scheduler=scheduler(),
            safety_checker=None,
            feature_extractor=None,
            watermarker=None,
            requires_safety_checker=False,
        )
    pipeline.save_pretrained(path)
    return Path(path)
