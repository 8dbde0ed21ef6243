"""A tiny random-weight HunyuanDiT checkpoint, built offline in well under a second, and a tiny ControlNet for it.

It has HunyuanDiT's architecture at a size where a 2-step 64x64 call takes a
fraction of a second on one CPU core:

- ``text_encoder``: a BertModel (HunyuanDiT's bilingual CLIP text tower is
  saved as one) 32 wide and 2 layers deep, with the toolkit's WordPiece
  BertTokenizer; the pipelines pad it to 77 tokens.
- ``text_encoder_2``: a T5EncoderModel (mT5-XL's encoder in the real
  checkpoints: gated GELU, untied) 32 wide, with the toolkit's Unigram
  T5Tokenizer; the pipelines pad it to 256 tokens.
- ``transformer``: a HunyuanDiT2DModel of 4 blocks of 2 heads of 8 (16 wide),
  patch 2, learned variance (8 output channels), 77 + 256 text tokens as the
  pipelines feed. 4 blocks, not 2: blocks past the middle take the long skip
  connections and the ControlNet's residuals (a 4-block transformer has one
  of each), so a ControlNet has something to add to.
- ``vae``: an AutoencoderKL of four levels, so that it downsamples 8x as
  SDXL's does (the pipelines compute the rotary grid as ``height // 8``),
  SDXL's scaling factor 0.13025 and ``force_upcast: false`` as HunyuanDiT's.
- ``scheduler``: DDPMScheduler as HunyuanDiT ships it (v-prediction, scaled
  linear betas from 0.00085 to 0.03, leading spacing).

The widths the pipelines tie together: the transformer's
``cross_attention_dim`` is the BERT encoder's width and
``cross_attention_dim_t5`` mT5's (divisible by 8: the pooled condition is an
8-head attention pool over mT5's states); ``text_len`` and ``text_len_t5``
are 77 and 256, the lengths the pipelines pad each prompt to.

Diffusers' resolution binning, on by default in every HunyuanDiT pipeline,
draws every call at one of its 1024 and 1280 px sizes whatever height and
width say: callers that want a 64x64 draw pass ``use_resolution_binning=False``
(the conformance kit does; ``autopipe demo`` draws at 1024x1024, about a second
or two on one core). The tokenizers are built in memory
(:mod:`autopipe_core.toolkit.tokenizers`), so nothing is fetched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import FAMILY

#: The text encoders' width (BERT-large's 1024 and mT5-XL's 2048 in the real checkpoints).
TEXT_HIDDEN = 32
#: The transformer: heads x head width = its hidden size (16 x 88 = 1408 in the real ones).
HEADS = 2
HEAD_DIM = 8
LAYERS = 4
#: Latent pixels per side the transformer's config says (64 px through the 8x VAE; 128 in the real ones: 1024 px).
SAMPLE_SIZE = 8
#: The prompt lengths the pipelines pad to (``max_sequence_length`` 77 for BERT, 256 for mT5), which the transformer's
#: text padding table and the attention pool's positions are sized by.
TEXT_LEN = 77
TEXT_LEN_T5 = 256
#: SDXL's VAE scaling factor, as HunyuanDiT's vae/config.json has it.
SCALING_FACTOR = 0.13025
#: DDPMScheduler as HunyuanDiT's scheduler/scheduler_config.json configures it.
SCHEDULER = dict(
    beta_start=0.00085, beta_end=0.03, beta_schedule="scaled_linear", prediction_type="v_prediction", clip_sample=False,
    steps_offset=1, timestep_spacing="leading", variance_type="fixed_small", num_train_timesteps=1000,
)


def bert_encoder(vocab_size: int) -> Any:
    """A BertModel 32 wide, 2 layers of 4 heads, 128 positions (77 used), with its pooler; ids as the toolkit's BERT tokenizer's."""
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=TEXT_HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=2 * TEXT_HIDDEN,
        max_position_embeddings=128,
        pad_token_id=0,
    )
    return BertModel(config)


def transformer(**overrides: Any) -> Any:
    """A HunyuanDiT2DModel of :data:`LAYERS` blocks, :data:`HEADS` heads of :data:`HEAD_DIM`, for the tiny text encoders' widths.

    `overrides` go to the constructor (``use_style_cond_and_image_meta_size=False``
    for a v1.2-style transformer).
    """
    from diffusers import HunyuanDiT2DModel

    settings: dict[str, Any] = dict(
        num_attention_heads=HEADS,
        attention_head_dim=HEAD_DIM,
        hidden_size=HEADS * HEAD_DIM,
        in_channels=4,
        patch_size=2,
        activation_fn="gelu-approximate",
        sample_size=SAMPLE_SIZE,
        num_layers=LAYERS,
        mlp_ratio=2.0,
        learn_sigma=True,
        cross_attention_dim=TEXT_HIDDEN,
        norm_type="layer_norm",
        cross_attention_dim_t5=TEXT_HIDDEN,
        pooled_projection_dim=HEADS * HEAD_DIM,
        text_len=TEXT_LEN,
        text_len_t5=TEXT_LEN_T5,
    )
    return HunyuanDiT2DModel(**{**settings, **overrides})


def vae() -> Any:
    """The toolkit's tiny AutoencoderKL with four levels (8x, as SDXL's), SDXL's scaling factor and ``force_upcast: false``."""
    return toolkit.tiny.vae_8x(scaling_factor=SCALING_FACTOR, force_upcast=False)


def scheduler() -> Any:
    """DDPMScheduler with HunyuanDiT's settings (:data:`SCHEDULER`)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULER)


def pipeline(seed: int = 0, **transformer_overrides: Any) -> Any:
    """The tiny HunyuanDiTPipeline in memory (float32, random weights under `seed`), with no safety checker.

    ``requires_safety_checker`` is False: HunyuanDiT's releases name no safety
    checker (``[null, null]``) and diffusers would warn at every load that it is
    missing.
    """
    from diffusers import HunyuanDiTPipeline

    with toolkit.tiny.seeded(seed):
        tokenizer = toolkit.tokenizers.bert()
        tokenizer_2 = toolkit.tokenizers.t5()
        return HunyuanDiTPipeline(
            vae=vae(),
            text_encoder=bert_encoder(len(tokenizer)),
            tokenizer=tokenizer,
            transformer=transformer(**transformer_overrides),
            scheduler=scheduler(),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
            text_encoder_2=toolkit.tiny.t5_encoder(len(tokenizer_2), TEXT_HIDDEN),
            tokenizer_2=tokenizer_2,
        )


def build(path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny HunyuanDiT checkpoint to `path` with save_pretrained: the ``autopipe_build_tiny`` hook; return the path.

    HunyuanDiT has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built. The same `seed` gives the
    same weights.
    """
    if variant is not None:
        raise toolkit.tiny.unknown_variant(FAMILY, variant, (None,))
    pipeline(seed).save_pretrained(path)
    return Path(path)


def controlnet(transformer: Any, seed: int = 0) -> Any:
    """A random HunyuanDiT2DControlNetModel for `transformer` (a HunyuanDiT2DModel): its widths, float32.

    Built from the transformer's config with diffusers' own
    ``HunyuanDiT2DControlNetModel.from_transformer`` (weights not copied), with
    the transformer's block count passed in: that method reads
    ``config.transformer_num_layers``, which a HunyuanDiT2DModel's config does
    not have (it says ``num_layers``). The ControlNet has ``num_layers // 2 - 1``
    blocks, one for each skip connection the transformer's second half takes.
    """
    from diffusers import HunyuanDiT2DControlNetModel

    with toolkit.tiny.seeded(seed):
        return HunyuanDiT2DControlNetModel.from_transformer(
            transformer, transformer_num_layers=transformer.config.num_layers, load_weights_from_transformer=False,
        )
