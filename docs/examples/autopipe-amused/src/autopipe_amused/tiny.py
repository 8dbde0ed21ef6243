"""A tiny random-weight aMUSEd checkpoint, built offline in about a second, for tests and ``autopipe demo``.

The architecture is aMUSEd's at a size where a 2-step call takes a fraction
of a second on a CPU (about 310,000 parameters in all):

- a VQModel with aMUSEd's geometry: 5 encoder and decoder blocks, so 16x16
  pixels make one token, codes looked up from its codebook when decoding
  (``lookup_from_codebook``), no attention in its middle block; but 32
  codebook entries of 8 values where aMUSEd has 8192 of 64, and blocks of 8
  to 32 channels;
- a UVit2DModel that sees the grid as amused-256 does, 16x16 tokens (256x256
  pixels), halved inside (``downsample``/``upsample``), with 2 transformer
  layers 32 wide; its vocabulary is the codebook plus the mask token;
- a CLIP text encoder with projection from autopipe's toolkit (2 layers, 32
  wide, projected to 32): the pipelines take its projected, pooled output
  and its second-to-last hidden states;
- the toolkit's CLIP tokenizer over single characters, made in memory, so
  nothing is downloaded;
- an AmusedScheduler whose mask token is the id after the codebook.
"""

from __future__ import annotations

from pathlib import Path

from autopipe_core import toolkit

from . import FAMILY

#: Width of the text encoder, of its projection and of the transformer (aMUSEd: 768, 768, 1024).
HIDDEN = 32
#: VQ-GAN codebook entries (aMUSEd: 8192); the transformer predicts one of them for each token.
CODEBOOK = 32
#: The mask token: the first id after the codebook (aMUSEd: 8255, the last of a vocabulary of 8256).
MASK_TOKEN_ID = CODEBOOK
#: Tokens a side of the transformer's grid: 16 x 16 pixels each, so 256x256 images, as amused-256.
TOKENS = 16
#: The VQ-GAN's block widths: five blocks downsample by 2**4 = 16, as aMUSEd's (128, 256, 256, 512, 768) do.
VQ_BLOCKS = (8, 8, 16, 16, 32)
#: Numbers the pipelines micro-condition on: width, height, the crop's two coordinates, an aesthetic score.
MICRO_CONDITIONS = 5
#: Width each micro-conditioning number is embedded in (aMUSEd: 256).
MICRO_WIDTH = 8


def vqvae():
    """The tiny VQ-GAN: RGB in and out, a 256x256 image to 16x16 codes of 8 values, 32 entries in its codebook."""
    from diffusers import VQModel

    return VQModel(
        block_out_channels=VQ_BLOCKS,
        down_block_types=("DownEncoderBlock2D",) * len(VQ_BLOCKS),
        up_block_types=("UpDecoderBlock2D",) * len(VQ_BLOCKS),
        latent_channels=8,
        layers_per_block=1,
        norm_num_groups=8,
        num_vq_embeddings=CODEBOOK,
        mid_block_add_attention=False,
        lookup_from_codebook=True,
    )


def transformer():
    """The tiny UVit2DModel: logits over the codebook for each token of a grid, conditioned on the text and micro-conditions."""
    from diffusers import UVit2DModel

    return UVit2DModel(
        hidden_size=HIDDEN,
        cond_embed_dim=HIDDEN,  # the text encoder's projection
        encoder_hidden_size=HIDDEN,  # the text encoder's hidden states
        micro_cond_encode_dim=MICRO_WIDTH,
        micro_cond_embed_dim=MICRO_CONDITIONS * MICRO_WIDTH,
        vocab_size=CODEBOOK + 1,  # the codebook and the mask token
        codebook_size=CODEBOOK,
        in_channels=16,
        block_out_channels=HIDDEN,
        num_res_blocks=1,
        downsample=True,
        upsample=True,
        block_num_heads=2,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * HIDDEN,
        sample_size=TOKENS,
    )


def build(path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny AmusedPipeline to `path` with save_pretrained; return the path.

    `variant` must be None (aMUSEd has no variant: a ValueError otherwise);
    the same `seed` gives the same weights.
    """
    from diffusers import AmusedPipeline, AmusedScheduler

    if variant is not None:
        raise toolkit.tiny.unknown_variant(FAMILY, variant, (None,))
    with toolkit.tiny.seeded(seed):
        tokenizer = toolkit.tokenizers.clip_characters()
        text_encoder = toolkit.tiny.clip_text_encoder(len(tokenizer), HIDDEN, projection_dim=HIDDEN)
        pipeline = AmusedPipeline(
            vqvae=vqvae(),
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            transformer=transformer(),
            scheduler=AmusedScheduler(mask_token_id=MASK_TOKEN_ID),
        )
    pipeline.save_pretrained(path)
    return Path(path)
