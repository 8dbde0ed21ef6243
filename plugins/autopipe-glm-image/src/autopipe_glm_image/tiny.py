"""A tiny random-weight GLM-Image checkpoint, built offline in about a second.

A GlmImagePipeline with the classes and the config keys that matter of the real one:

- ``processor``: transformers' GlmImageProcessor over a byte-level BPE
  tokenizer (``PreTrainedTokenizerFast``, :func:`processor_tokenizer`) whose
  named special tokens are the ones the processor reads (``image_token``,
  ``grid_bos_token`` ``<sop>``, ``grid_eos_token`` ``<eop>``, and the image-start
  token as ``bos_token``), a chat template of this plugin's
  (:data:`CHAT_TEMPLATE`), and the PIL image processor with GLM-Image's
  layout (16-pixel patches, no temporal patching, no merging), which needs no
  torchvision;
- ``vision_language_encoder``: GlmImageForConditionalGeneration 16 wide, 2
  text layers and one vision block, its vocabulary the processor's, its
  prior tokens (``vision_vocab_size``, the VQ codebook) the 256 byte tokens
  (:data:`PRIORS`), its image start, end and placeholder ids the processor's tokens';
- ``text_encoder`` and ``tokenizer``: a one-layer T5EncoderModel 16 wide over
  transformers' ByT5Tokenizer (bytes, no vocabulary file);
- ``transformer``: GlmImageTransformer2DModel, one block of 2 heads of 8, 2 x 2
  patches, its prior codebook :data:`PRIORS`;
- ``vae``: an AutoencoderKL with four levels (8x), 4 latent channels, and the
  ``latents_mean``/``latents_std`` GlmImagePipeline de-normalises with;
- ``scheduler``: flow-match Euler.

GlmImagePipeline draws a 16 x 16 preview grid of prior tokens before the image's
own (one token per 32 x 32 pixels): 261 autoregressive steps at 64x64, about a
second on one CPU thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import FAMILIES, GLM_IMAGE, GLM_IMAGE_CLASS

WIDTH = 16
#: The processor's special tokens: end of text (also padding), the image start and end tokens (GLM-Image's ids 16384 and
#: 16385, named after them), the image placeholder, the grid markers, the chat's markers.
IMAGE_START, IMAGE_END, IMAGE = "<|dit_token_16384|>", "<|dit_token_16385|>", "<|image|>"
SPECIALS = ("<|endoftext|>", IMAGE_START, IMAGE_END, IMAGE, "<sop>", "<eop>", "[gMASK]", "<|user|>", "<|assistant|>")
#: A chat template for the tiny processor, this plugin's own: [gMASK], each turn after its role marker, an image part as
#: the image start token, the placeholder (which the processor expands) and the image end token; with
#: add_generation_prompt the assistant's turn opened.
CHAT_TEMPLATE = (
    "[gMASK]{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}" + IMAGE_START + IMAGE + IMAGE_END
    + "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
#: Prior tokens the tiny model draws from: the bytes, ids below every special token's, so that the image end token (the
#: end of generation) is never drawn and every call draws all the tokens the pipeline reshapes (GLM-Image's own
#: vision vocabulary, 16,512, holds its image start and end tokens, which a trained model draws where they belong).
PRIORS = 256
#: GLM-Image's vision layout: 16-pixel patches, no temporal patching, no merging.
PATCH = 16

VARIANTS = (None,)


def vocabulary() -> dict[str, int]:
    """The 256 bytes (ids 0 to 255, the tokens the tiny model may draw as prior tokens), then :data:`SPECIALS` (256 on)."""
    chars = toolkit.tokenizers.bytes_to_unicode()
    return {**{chars[b]: b for b in range(PRIORS)}, **{token: PRIORS + i for i, token in enumerate(SPECIALS)}}


def processor_tokenizer() -> Any:
    """A byte-level BPE tokenizer over :func:`vocabulary` (265 entries), with the named tokens GlmImageProcessor reads."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(vocab=vocabulary(), merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|endoftext|>", pad_token="<|endoftext|>", bos_token=IMAGE_START, padding_side="left",
        extra_special_tokens={"image_token": IMAGE, "grid_bos_token": "<sop>", "grid_eos_token": "<eop>"},
    )


def processor() -> Any:
    """GlmImageProcessor: :func:`processor_tokenizer`, :data:`CHAT_TEMPLATE` and the PIL image processor (16-pixel patches)."""
    from transformers import GlmImageProcessor
    from transformers.models.glm_image.image_processing_pil_glm_image import GlmImageImageProcessorPil

    images = GlmImageImageProcessorPil(patch_size=PATCH, temporal_patch_size=1, merge_size=1, size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64})
    return GlmImageProcessor(image_processor=images, tokenizer=processor_tokenizer(), chat_template=CHAT_TEMPLATE)


def vision_language_encoder(tok: Any) -> Any:
    """A tiny GlmImageForConditionalGeneration over `tok`'s vocabulary: 2 text layers and one vision block, 16 wide."""
    from transformers import GlmImageConfig, GlmImageForConditionalGeneration

    ids = tok.convert_tokens_to_ids
    vocab = len(tok)
    config = GlmImageConfig(
        text_config=dict(
            vocab_size=vocab, vision_vocab_size=PRIORS, hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024, pad_token_id=ids("<|endoftext|>"),
            eos_token_id=ids(IMAGE_END), rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": (2, 1, 1)},
        ),
        vision_config=dict(depth=1, hidden_size=WIDTH, num_heads=2, image_size=32, patch_size=PATCH, intermediate_size=2 * WIDTH),
        vq_config=dict(embed_dim=WIDTH, num_embeddings=PRIORS, latent_channels=WIDTH),
        image_token_id=ids(IMAGE), image_start_token_id=ids(IMAGE_START), image_end_token_id=ids(IMAGE_END),
    )
    return GlmImageForConditionalGeneration(config).eval()


def glyph_encoder() -> tuple[Any, Any]:
    """transformers' ByT5Tokenizer and a one-layer T5EncoderModel 16 wide over its 384 ids."""
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    tok = ByT5Tokenizer()
    config = T5Config(vocab_size=len(tok), d_model=WIDTH, d_kv=8, d_ff=2 * WIDTH, num_layers=1, num_heads=2, relative_attention_num_buckets=8)
    return tok, T5EncoderModel(config).eval()


def transformer(codebook: int) -> Any:
    """A tiny GlmImageTransformer2DModel: one block of 2 heads of 8, 2 x 2 patches over 4 channels, `codebook` prior tokens."""
    from diffusers import GlmImageTransformer2DModel

    return GlmImageTransformer2DModel(
        patch_size=2, in_channels=4, out_channels=4, num_layers=1, attention_head_dim=8, num_attention_heads=2,
        text_embed_dim=WIDTH, time_embed_dim=16, condition_dim=8, prior_vq_quantizer_codebook_size=codebook,
    )


def vae() -> Any:
    """An AutoencoderKL with four levels (8x) and 4 latent channels, with the latents_mean and latents_std the pipeline reads."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(4, 8, 16, 16), down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4, norm_num_groups=4, sample_size=128, latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )


def pipeline(family: str = GLM_IMAGE, seed: int = 0) -> Any:
    """The tiny pipeline of `family`, in memory (float32, random weights under `seed`). ValueError for a family not here."""
    import diffusers
    from diffusers import FlowMatchEulerDiscreteScheduler

    if family not in FAMILIES:
        raise ValueError(f"autopipe-glm-image builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    with toolkit.tiny.seeded(seed):
        proc = processor()
        tok, text_encoder = glyph_encoder()
        return getattr(diffusers, GLM_IMAGE_CLASS)(
            tokenizer=tok, processor=proc, text_encoder=text_encoder, vision_language_encoder=vision_language_encoder(proc.tokenizer),
            vae=vae(), transformer=transformer(PRIORS), scheduler=FlowMatchEulerDiscreteScheduler(),
        )


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint of `family` to `path` with save_pretrained: the ``autopipe_build_tiny`` hook; returns the path.

    The family has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built, and so is another family.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed, VARIANTS)
