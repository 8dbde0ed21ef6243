"""A tiny random-weight DeepFloyd IF stage I checkpoint, built offline in about a second.

The architecture is stage I's: a T5 encoder (gated-GELU, as T5-v1.1-XXL) and
its Unigram tokenizer, a pixel-space UNet2DConditionModel (3 channels in, 6
out: the noise and the learned variance range; T5's hidden states projected
by encoder_hid_dim and pooled by the "text" addition embedding; simple
cross-attention blocks with group-norm), and the DDPM scheduler with the
learned-range variance and dynamic thresholding stage I was converted with.
No safety checker, feature extractor or watermarker. At 16x16 a 2-step call
takes a few hundredths of a second on a CPU. The tokenizer is built in memory
from (piece, score) pairs, so nothing is fetched from the hub.
"""

from __future__ import annotations

import string
from pathlib import Path

HIDDEN = 32
SAMPLE_SIZE = 16
MAX_LENGTH = 77  # IF's encode_prompt pads and truncates T5 input to 77 tokens


def t5_pieces() -> list[tuple[str, float]]:
    """A Unigram vocabulary over single characters, with and without the word-start marker "▁".

    T5's layout: <pad>=0, </s>=1, <unk>=2. A word-initial piece ("▁a", -2.5)
    scores better than the marker and the character apart (-2 + -3).
    """
    chars = string.ascii_letters + string.digits + string.punctuation
    return [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)] + [(c, -3.0) for c in chars] + [("▁" + c, -2.5) for c in chars]


def t5_tokenizer():
    """A real T5 (Unigram) tokenizer built in memory: no spiece.model, no sentencepiece, no download."""
    import transformers
    from transformers import T5Tokenizer

    if int(transformers.__version__.split(".")[0]) < 5:
        raise RuntimeError(
            f"the tiny IF checkpoint builds its T5 tokenizer from (piece, score) pairs, which needs transformers>=5 "
            f"(installed: {transformers.__version__})"
        )
    return T5Tokenizer(vocab=t5_pieces(), extra_ids=0, model_max_length=MAX_LENGTH)


def t5_text_encoder(vocab_size: int, hidden: int = HIDDEN):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size,
        d_model=hidden,
        d_kv=8,
        d_ff=2 * hidden,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        is_encoder_decoder=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5EncoderModel(config)


def unet(text_hidden: int = HIDDEN):
    """Stage I's UNet, shrunk: pixel space, learned variance, T5 states in through encoder_hid_dim."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=SAMPLE_SIZE,
        in_channels=3,
        out_channels=6,
        layers_per_block=1,
        block_out_channels=(16, 32),
        norm_num_groups=8,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        cross_attention_dim=32,
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
        raise ValueError(f"if has no tiny variant {variant!r}; its only tiny checkpoint is stage I (variant None)")
    import torch
    from diffusers import IFPipeline

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer()
    text_encoder = t5_text_encoder(len(tokenizer))
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
