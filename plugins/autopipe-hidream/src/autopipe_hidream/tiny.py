"""A tiny random-weight HiDream-I1 checkpoint, built offline in about a second.

HiDream-I1's architecture at a size where a 2-step call takes well under a
second of one CPU core, with all four tokenizers built in memory:

- ``tokenizer``, ``tokenizer_2``: the toolkit's character-level CLIP
  tokenizers (HiDream's are CLIP's; the second pads with "!" as CLIP-G's
  does), 128 tokens long: HiDreamImagePipeline pads CLIP prompts to
  ``min(max_sequence_length, 218)`` = 128 tokens;
- ``text_encoder``, ``text_encoder_2``: ``CLIPTextModelWithProjection`` 32
  wide with 32-wide projections (their pooled outputs, concatenated, are the
  transformer's ``text_emb_dim`` 64; HiDream's: 768 + 1280 = 2048) and
  Long-CLIP's 248 positions (a 77-position CLIP cannot take the pipeline's
  128 tokens); the second with GELU as CLIP-G;
- ``tokenizer_3``, ``text_encoder_3``: the toolkit's T5 tokenizer and T5
  v1.1 encoder, 32 wide (T5-XXL: 4096);
- ``tokenizer_4``, ``text_encoder_4``: the toolkit's Llama tokenizer (built
  from a small vocabulary in memory) and a ``LlamaForCausalLM`` 32 wide, 2
  layers (Llama 3.1 8B: 4096 wide, 32 layers); HiDreamImagePipeline reads
  every layer's hidden state and pads with the end token;
- ``transformer``: a HiDreamImageTransformer2DModel with one dual-stream and
  one single-stream block of 2 heads of 8 (rotary axes 4 + 2 + 2, as
  HiDream's 64 + 32 + 32 make its 128-wide heads), 4 routed experts of which
  2 are active, 2 x 2 patches of 16 latent channels, HiDream's 128 x 128
  ``max_resolution`` and ``llama_layers`` [0, 1] (a Llama layer for each
  block, as HiDream's 48 blocks read layers 0-31, the last one 17 times);
- ``vae``: the toolkit's tiny AutoencoderKL with 16 latent channels and
  FLUX.1's scaling (0.3611) and shift (0.1159) factors, no quantisation
  convolutions (FLUX.1's VAE has none), and no mid-block attention: the
  pipeline always draws (128 x the VAE's factor)² pixels, here 256 x 256
  from 128 x 128 latents, and attention over 16,384 latent positions would
  be most of the call's time;
- ``scheduler``: flow-match Euler with HiDream-I1-Dev's shift, 6.0.

HiDreamImagePipeline draws ``default_sample_size`` (128) latents a side
whatever height and width say, rescaled to the same area: the transformer
always sees 64 x 64 = 4,096 image tokens, as the real one at 1024 x 1024.
:func:`hidream_single_file` writes the transformer as one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import FAMILIES, HIDREAM

#: The tiny text encoders' width (T5-XXL and Llama 3.1 8B: 4096; the CLIPs: 768 and 1280).
TEXT_HIDDEN = 32
#: Long-CLIP's positions, which HiDream's CLIP encoders have (the pipeline passes 128 tokens).
CLIP_POSITIONS = 248
#: The CLIP tokenizers' length: the 128 tokens HiDreamImagePipeline pads CLIP prompts to.
CLIP_LENGTH = 128
#: The transformer's settings: HiDream-I1's (its transformer/config.json) at 16 wide.
TRANSFORMER = dict(
    patch_size=2,
    in_channels=16,
    out_channels=16,
    num_layers=1,
    num_single_layers=1,
    attention_head_dim=8,
    num_attention_heads=2,
    caption_channels=[TEXT_HIDDEN, TEXT_HIDDEN],  # [T5's width, Llama's width]
    text_emb_dim=2 * TEXT_HIDDEN,  # the two CLIPs' pooled projections, concatenated
    num_routed_experts=4,
    num_activated_experts=2,
    axes_dims_rope=[4, 2, 2],
    max_resolution=[128, 128],
    llama_layers=[0, 1],
)
#: FLUX.1's VAE factors, which HiDream-I1's VAE (FLUX.1's) has.
SCALING, SHIFT_FACTOR = 0.3611, 0.1159
#: HiDream-I1-Dev's flow shift (HiDream-ai's inference.py: Full 3.0, Dev 6.0, Fast 3.0).
SHIFT = 6.0


def clip_text_encoder(vocab_size: int, hidden_act: str) -> Any:
    """A ``CLIPTextModelWithProjection`` 32 wide, 2 layers of 4 heads, projection 32, :data:`CLIP_POSITIONS` positions.

    Built here, not with ``toolkit.tiny.clip_text_encoder``: that builder fixes
    77 positions (its ``max_position_embeddings`` cannot be overridden).
    """
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=TEXT_HIDDEN, intermediate_size=2 * TEXT_HIDDEN, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=CLIP_POSITIONS, projection_dim=TEXT_HIDDEN, hidden_act=hidden_act, bos_token_id=0, eos_token_id=1,
        pad_token_id=1,
    )
    return CLIPTextModelWithProjection(config)


def llama(vocab_size: int) -> Any:
    """A ``LlamaForCausalLM`` 32 wide, 2 layers of 4 heads (2 key/value heads), MLP 64; ids those of ``toolkit.tokenizers.llama``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=TEXT_HIDDEN, intermediate_size=2 * TEXT_HIDDEN, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def transformer(**overrides: Any) -> Any:
    """A HiDreamImageTransformer2DModel of :data:`TRANSFORMER` (about 153,000 parameters)."""
    from diffusers import HiDreamImageTransformer2DModel

    return HiDreamImageTransformer2DModel(**{**TRANSFORMER, **overrides})


def vae() -> Any:
    """The toolkit's tiny AutoencoderKL with 16 latent channels, FLUX.1's factors, no quantisation convolutions or mid attention."""
    return toolkit.tiny.vae(
        latent_channels=16, scaling_factor=SCALING, shift_factor=SHIFT_FACTOR, use_quant_conv=False, use_post_quant_conv=False,
        mid_block_add_attention=False,
    )


def scheduler() -> Any:
    """Flow-match Euler with HiDream-I1-Dev's shift (:data:`SHIFT`)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(shift=SHIFT)


def pipeline(family: str = HIDREAM, seed: int = 0) -> Any:
    """The tiny HiDreamImagePipeline, in memory (float32, random weights under `seed`, models in eval mode).

    ValueError for a family not here. Eval mode matters: the transformer
    unpatchifies its output for training (another shape) while in training mode.
    """
    from diffusers import HiDreamImagePipeline

    if family not in FAMILIES:
        raise ValueError(f"autopipe-hidream builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    with toolkit.tiny.seeded(seed):
        tok = toolkit.tokenizers.clip_characters(model_max_length=CLIP_LENGTH)
        tok_2 = toolkit.tokenizers.clip_characters(pad_token="!", model_max_length=CLIP_LENGTH)
        tok_3 = toolkit.tokenizers.t5()
        tok_4 = toolkit.tokenizers.llama()
        pipe = HiDreamImagePipeline(
            scheduler=scheduler(),
            vae=vae(),
            text_encoder=clip_text_encoder(len(tok), "quick_gelu"),
            tokenizer=tok,
            text_encoder_2=clip_text_encoder(len(tok_2), "gelu"),
            tokenizer_2=tok_2,
            text_encoder_3=toolkit.tiny.t5_encoder(len(tok_3), TEXT_HIDDEN),
            tokenizer_3=tok_3,
            text_encoder_4=llama(len(tok_4)),
            tokenizer_4=tok_4,
            transformer=transformer(),
        )
    for name in ("vae", "text_encoder", "text_encoder_2", "text_encoder_3", "text_encoder_4", "transformer"):
        getattr(pipe, name).eval()
    return pipe


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint to `path` with save_pretrained: the ``autopipe_build_tiny`` hook.

    The family has its ordinary checkpoint only (`variant` None; Full, Dev and
    Fast are not Variants, see the package's docstring); another variant is a
    ValueError naming what is built.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed)


def hidream_single_file(folder: Path, path: Path, *, prefix: str = "", dtype: str = "bfloat16") -> Path:
    """Write the transformer of the diffusers folder `folder` to `path` as one .safetensors file; return the path.

    HiDream's transformer files (HiDream-ai's own, Comfy-Org's
    ``hidream_i1_*.safetensors`` diffusion models) name the tensors as
    diffusers does, which diffusers' converter takes as they are; `prefix`
    ``"model.diffusion_model."`` gives the layout of a checkpoint ComfyUI
    saves. Saved in `dtype`, bfloat16 as HiDream-ai's weights. Reads the
    folder's weights (sharded or not) with safetensors, never a pickle.
    """
    tensors = toolkit.transformer_file.component_tensors(folder, "transformer")
    return toolkit.transformer_file.save_tensors(tensors, path, prefix=prefix, dtype=dtype)
