"""A tiny random-weight AuraFlow checkpoint, built offline in well under a second.

AuraFlow's architecture at a size where a 2-step 64x64 call takes a fraction
of a second on one CPU core:

- the tokenizer: the toolkit's Llama tokenizer (AuraFlow's is Pile-T5's,
  a ``LlamaTokenizerFast``), built in memory, ``<unk>`` (id 0) padding as
  Pile-T5-XL's ``pad_token_id`` 0 says;
- the text encoder: a ``UMT5EncoderModel`` (Pile-T5-XL's class: gated GELU,
  a relative position bias in every layer) 32 wide and 2 layers deep;
- the transformer: an AuraFlowTransformer2DModel with one joint and one
  single-stream block of 2 heads of 8, and AuraFlow's 4,096 learned positions
  (``pos_embed_max_size``: a 64x64 patch grid, so AuraFlowPipeline's default
  1024x1024 call runs on it too);
- the VAE: the toolkit's tiny AutoencoderKL with four levels (AuraFlow's
  is SDXL's: 8x, scaling factor 0.13025, ``force_upcast``);
- the scheduler: flow-match Euler with AuraFlow's shift, 1.73.

:func:`auraflow_single_file` writes its transformer in the authors' layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import AURAFLOW, FAMILIES

#: The text encoder's width, which the transformer's cond_seq_linear takes (Pile-T5-XL: 2048).
TEXT_HIDDEN = 32
#: The transformer's settings: AuraFlow's (fal/AuraFlow's transformer/config.json) at 16 wide.
TRANSFORMER = dict(
    sample_size=8,
    patch_size=2,
    in_channels=4,
    num_mmdit_layers=1,
    num_single_dit_layers=1,
    attention_head_dim=8,
    num_attention_heads=2,
    joint_attention_dim=TEXT_HIDDEN,
    caption_projection_dim=16,
    out_channels=4,
    pos_embed_max_size=4096,
)
#: AuraFlow's sampling shift (ComfyUI's AuraFlow model: sampling_settings shift 1.73).
SHIFT = 1.73
#: SDXL's VAE scaling factor, AuraFlow's.
SCALING = 0.13025


def tokenizer() -> Any:
    """The toolkit's Llama tokenizer with ``<unk>`` padding (id 0, Pile-T5-XL's pad_token_id)."""
    return toolkit.tokenizers.llama(pad_token="<unk>")


def text_encoder(vocab_size: int) -> Any:
    """A ``UMT5EncoderModel`` 32 wide, 2 layers of 4 heads of 8, gated GELU, untied embeddings; padding 0 and end 2 as Pile-T5-XL's ids."""
    from transformers import UMT5Config, UMT5EncoderModel

    config = UMT5Config(
        vocab_size=vocab_size, d_model=TEXT_HIDDEN, d_kv=8, d_ff=2 * TEXT_HIDDEN, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=32, feed_forward_proj="gated-gelu",
        is_encoder_decoder=False, tie_word_embeddings=False, pad_token_id=0, eos_token_id=2, decoder_start_token_id=0,
    )
    return UMT5EncoderModel(config)


def transformer(**overrides: Any) -> Any:
    """An AuraFlowTransformer2DModel of :data:`TRANSFORMER` (about 116,000 parameters, 65,536 of them the positions)."""
    from diffusers import AuraFlowTransformer2DModel

    return AuraFlowTransformer2DModel(**{**TRANSFORMER, **overrides})


def vae() -> Any:
    """The toolkit's tiny AutoencoderKL with four levels (an 8x VAE, as SDXL's) and SDXL's scaling factor; force_upcast as SDXL's."""
    return toolkit.tiny.vae_8x(scaling_factor=SCALING)


def scheduler() -> Any:
    """Flow-match Euler with AuraFlow's shift (:data:`SHIFT`)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(shift=SHIFT)


def pipeline(family: str = AURAFLOW, seed: int = 0) -> Any:
    """The tiny AuraFlowPipeline, in memory (float32, random weights under `seed`). ValueError for a family not here."""
    from diffusers import AuraFlowPipeline

    if family not in FAMILIES:
        raise ValueError(f"autopipe-auraflow builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    with toolkit.tiny.seeded(seed):
        tok = tokenizer()
        return AuraFlowPipeline(tokenizer=tok, text_encoder=text_encoder(len(tok)), vae=vae(), transformer=transformer(), scheduler=scheduler())


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint to `path` with save_pretrained: the ``autopipe_build_tiny`` hook.

    The family has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed)


def auraflow_single_file(folder: Path, path: Path, *, prefix: str = "", dtype: str = "float16", model: Any = None) -> Path:
    """Write the transformer of the tiny checkpoint at `folder` (or `model`) to `path` as one .safetensors file, in the authors' layout.

    The layout of :func:`autopipe_auraflow.layout.original`, which diffusers'
    ``AuraFlowTransformer2DModel.from_single_file`` converts back; `prefix`
    ``"model.diffusion_model."`` gives the part of ComfyUI's checkpoints that
    holds it. Saved in `dtype`, float16 as fal's files.
    """
    from diffusers import AuraFlowTransformer2DModel

    from .layout import original

    model = model if model is not None else AuraFlowTransformer2DModel.from_pretrained(Path(folder) / "transformer")
    return toolkit.transformer_file.save_tensors(original(model.state_dict()), path, prefix=prefix, dtype=dtype)
