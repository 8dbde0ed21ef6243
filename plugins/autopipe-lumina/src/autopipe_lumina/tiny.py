"""Tiny random-weight Lumina-Next and Lumina-Image 2.0 checkpoints, built offline in well under a second each.

Each has its family's architecture at a size where a 2-step 64x64 call takes
a fraction of a second on one CPU core:

- Lumina-Next (``lumina``): a Gemma decoder (``GemmaModel``, as
  Lumina-Next-SFT's gemma-2b) with the toolkit's Gemma tokenizer, a
  LuminaNextDiT2DModel (patch 2, grouped-query attention, learned sigma:
  8 output channels for 4 latent ones, query/key norms), an AutoencoderKL
  with SDXL's scaling factor (0.13025) and 8x downsampling, and a flow-match
  Euler scheduler.
- Lumina-Image 2.0 (``lumina2``): a Gemma 2 decoder (``Gemma2Model``, as
  gemma-2-2b) with the same tokenizer, a Lumina2Transformer2DModel (patch 2,
  one refiner block each for the noise and the caption, grouped-query
  attention), an AutoencoderKL with FLUX.1's 16 latent channels, scaling
  and shift (0.3611, 0.1159) and no quantisation convolutions, and the
  flow-match Euler scheduler with Lumina-Image 2.0's shift (6.0).

Both pipelines hard-code an 8x VAE (``vae_scale_factor = 8``), so the tiny
VAEs have four levels where the toolkit's has two. ``sample_size`` 8 makes
the default call 64x64. The tokenizers are built in memory
(:mod:`autopipe_core.toolkit.tokenizers`), so nothing is fetched.

:func:`lumina2_single_file` writes the file diffusers' Lumina 2 converter
reads; see its docstring for why that transformer is 2304 wide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import FAMILIES, LUMINA, LUMINA2

#: The text encoders' width, which the transformers' caption embedders take (gemma-2b: 2048, gemma-2-2b: 2304).
TEXT_HIDDEN = 32
#: Latent pixels per side of the tiny transformers: 64x64 images through the 8x VAE.
SAMPLE_SIZE = 8
#: Lumina-Next's VAE is SDXL's (4 latent channels); Lumina 2's is FLUX.1's (16), with its scaling and shift.
LUMINA_VAE = {"latent_channels": 4, "scaling_factor": 0.13025}
LUMINA2_VAE = {"latent_channels": 16, "scaling_factor": 0.3611, "shift_factor": 0.1159, "use_quant_conv": False, "use_post_quant_conv": False}
#: Lumina-Image 2.0's scheduler: flow-match Euler with a fixed shift of 6 (Alpha-VLLM/Lumina-Image-2.0, scheduler_config.json).
LUMINA2_SHIFT = 6.0
#: Positions of the tiny text encoders: Lumina pads prompts to at most 256 tokens (max_sequence_length), the
#: tiny tokenizer gives one token a character, and Lumina 2 prepends its system prompt (about 170 characters).
TEXT_POSITIONS = 512


def gemma_tokenizer() -> Any:
    """The toolkit's Gemma tokenizer (BPE over characters, ``<bos>`` first): Lumina-Next's and Lumina 2's class."""
    return toolkit.tokenizers.gemma()


def gemma_encoder(vocab_size: int) -> Any:
    """A ``GemmaModel`` (Lumina-Next's text encoder) 32 wide, 2 layers of 2 heads of 16, one key/value head; ids as the tokenizer's."""
    from transformers import GemmaConfig, GemmaModel

    return GemmaModel(GemmaConfig(**_decoder(vocab_size)))


def gemma2_encoder(vocab_size: int) -> Any:
    """A ``Gemma2Model`` (Lumina-Image 2.0's text encoder), the same sizes as :func:`gemma_encoder`."""
    from transformers import Gemma2Config, Gemma2Model

    return Gemma2Model(Gemma2Config(**_decoder(vocab_size)))


def _decoder(vocab_size: int) -> dict[str, Any]:
    return dict(
        vocab_size=vocab_size,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=2 * TEXT_HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=TEXT_POSITIONS,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )


def lumina_transformer(**overrides: Any) -> Any:
    """A LuminaNextDiT2DModel: 32 wide, 2 layers of 2 heads of 16 with one key/value head, learned sigma, query/key norms."""
    from diffusers import LuminaNextDiT2DModel

    settings: dict[str, Any] = dict(
        sample_size=SAMPLE_SIZE,
        patch_size=2,
        in_channels=LUMINA_VAE["latent_channels"],
        hidden_size=32,
        num_layers=2,
        num_attention_heads=2,
        num_kv_heads=1,
        multiple_of=16,
        ffn_dim_multiplier=None,
        norm_eps=1e-5,
        learn_sigma=True,
        qk_norm=True,
        cross_attention_dim=TEXT_HIDDEN,
        scaling_factor=1.0,
    )
    return LuminaNextDiT2DModel(**{**settings, **overrides})


def lumina2_transformer(**overrides: Any) -> Any:
    """A Lumina2Transformer2DModel: 32 wide, 2 layers and 1 refiner layer of 2 heads of 16, one key/value head.

    The rotary axes (8, 4, 4) add up to the head's 16, as Lumina-Image 2.0's (32, 32, 32) add up to its 96.
    """
    from diffusers import Lumina2Transformer2DModel

    settings: dict[str, Any] = dict(
        sample_size=SAMPLE_SIZE,
        patch_size=2,
        in_channels=LUMINA2_VAE["latent_channels"],
        hidden_size=32,
        num_layers=2,
        num_refiner_layers=1,
        num_attention_heads=2,
        num_kv_heads=1,
        multiple_of=16,
        ffn_dim_multiplier=None,
        norm_eps=1e-5,
        scaling_factor=1.0,
        axes_dim_rope=(8, 4, 4),
        axes_lens=(300, 512, 512),
        cap_feat_dim=TEXT_HIDDEN,
    )
    return Lumina2Transformer2DModel(**{**settings, **overrides})


def vae(**settings: Any) -> Any:
    """The toolkit's tiny AutoencoderKL with four levels (an 8x VAE, as both pipelines assume) and `settings` (channels, scaling)."""
    return toolkit.tiny.vae_8x(**settings)


def scheduler(family: str) -> Any:
    """The flow-match Euler scheduler both ship: diffusers' defaults for Lumina-Next, shift 6 for Lumina 2."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(shift=LUMINA2_SHIFT) if family == LUMINA2 else FlowMatchEulerDiscreteScheduler()


def pipeline(family: str, seed: int = 0) -> Any:
    """The tiny pipeline of `family`, in memory (float32, random weights under `seed`). ValueError for a family not here."""
    import diffusers

    if family not in FAMILIES:
        raise ValueError(f"autopipe-lumina builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    with toolkit.tiny.seeded(seed):
        tokenizer = gemma_tokenizer()
        if family == LUMINA:
            components = dict(
                tokenizer=tokenizer, text_encoder=gemma_encoder(len(tokenizer)), transformer=lumina_transformer(),
                vae=vae(**LUMINA_VAE), scheduler=scheduler(family),
            )
            return diffusers.LuminaPipeline(**components)
        components = dict(
            tokenizer=tokenizer, text_encoder=gemma2_encoder(len(tokenizer)), transformer=lumina2_transformer(),
            vae=vae(**LUMINA2_VAE), scheduler=scheduler(family),
        )
        return diffusers.Lumina2Pipeline(**components)


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint of `family` to `path` with save_pretrained: the ``autopipe_build_tiny`` hook.

    Each family has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed)


#: The tiny single file's transformer. diffusers 0.42.1's Lumina 2 converter (convert_lumina2_to_diffusers) splits each
#: fused qkv weight at fixed rows, 2304 for queries and 768 each for keys and values (Lumina-Image 2.0's 24 query and 8
#: key/value heads of 96), so a file it converts has 2304-wide attention: here 3 query heads of 768 and one key/value
#: head, one layer and one refiner layer each, a feed-forward network 16 wide and rotary axes adding up to 768. About
#: 65 M parameters (130 MB in bfloat16), the smallest transformer diffusers can read from an original-layout file.
SINGLE_FILE_TRANSFORMER = dict(
    hidden_size=2304,
    num_attention_heads=3,
    num_kv_heads=1,
    num_layers=1,
    num_refiner_layers=1,
    multiple_of=16,
    ffn_dim_multiplier=1 / 512,
    axes_dim_rope=(256, 256, 256),
)


def single_file_transformer(seed: int = 0) -> Any:
    """The Lumina2Transformer2DModel :func:`lumina2_single_file` writes (:data:`SINGLE_FILE_TRANSFORMER`), float32."""
    with toolkit.tiny.seeded(seed):
        return lumina2_transformer(**SINGLE_FILE_TRANSFORMER)


def lumina2_single_file(path: Path, *, prefix: str = "", dtype: str = "bfloat16", transformer: Any = None) -> Path:
    """Write a Lumina 2 transformer to `path` as one .safetensors file in the original layout (:func:`autopipe_lumina.layout.original`).

    The tensor names of Alpha-VLLM's own checkpoints, which diffusers'
    ``Lumina2Transformer2DModel.from_single_file`` converts back; `prefix`
    ``"model.diffusion_model."`` gives ComfyUI's layout. `transformer`
    (default: :func:`single_file_transformer`) must be 2304 wide for
    diffusers to read the file back (:data:`SINGLE_FILE_TRANSFORMER`);
    saved in `dtype`, bfloat16 as the released files.
    """
    from .layout import original

    transformer = transformer if transformer is not None else single_file_transformer()
    tensors = original(transformer.state_dict(), transformer.config)
    return toolkit.transformer_file.save_tensors(tensors, path, prefix=prefix, dtype=dtype)
