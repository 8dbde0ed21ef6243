"""A tiny random-weight Krea 2 checkpoint, built offline in seconds.

Krea 2's architecture at a size where a 2-step 64x64 call takes well under a
second on one CPU core:

- the tokenizer: the toolkit's Qwen2 tokenizer over bytes (Qwen3-VL's is a
  Qwen2 byte-level BPE with the same ``<|im_start|>``/``<|im_end|>`` chat
  markers Krea2Pipeline's prompt template writes), built in memory;
- the text encoder: a ``Qwen3VLModel`` (Krea 2's class) whose language model
  is 2 layers 16 wide (2 heads of 8, multimodal rope sections 1, 1, 2) with a
  2-layer vision tower the pipeline never calls; its 3 hidden states (the
  embeddings and 2 layers) are tapped at :data:`SELECT_LAYERS`;
- the transformer: a Krea2Transformer2DModel 16 wide (2 query heads of 8, 1
  key/value head, as Krea's grouped-query attention), 2 blocks, a text fusion
  of one layer-wise and one refiner block over :data:`SELECT_LAYERS`' 2 taps;
- the VAE: an AutoencoderKLQwenImage (Krea 2's class) of 8, 16, 32 channels
  and 4 latent channels, 4x (a 64x64 call is 8 x 8 latents, 4 x 4 tokens of
  2 x 2 patches);
- the scheduler: flow-match Euler with Krea 2's resolution-aware exponential
  shift (:data:`SCHEDULER`).

:func:`krea2_single_file` writes its transformer in Krea's original layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import FAMILIES, KREA2

#: The tiny text encoder's width, which the transformer's text_hidden_dim must match (Qwen3-VL-4B: 2560).
TEXT_WIDTH = 16
#: The hidden states the tiny pipeline taps: both layers of its 2-layer encoder (Krea 2 taps 12 of Qwen3-VL-4B's 37,
#: every third from 2). Not the class's default, whose 12 taps need 36 layers.
SELECT_LAYERS = (1, 2)
#: The tiny VAE's latent channels; a 2 x 2 patch of them is the transformer's 16 input channels (Krea 2: 16 and 64).
Z_DIM = 4
#: Krea 2's FlowMatchEulerDiscreteScheduler settings, as Krea2Pipeline's docstring gives them (diffusers 0.42.1):
#: dynamic shifting with base_shift 0.5, max_shift 1.15 between 256 and 6400 image tokens, the exponential time shift.
SCHEDULER = {
    "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 6400, "max_shift": 1.15, "num_train_timesteps": 1000,
    "shift": 1.0, "time_shift_type": "exponential", "use_dynamic_shifting": True,
}
#: The transformer's settings at tiny size; the rest are Krea2Transformer2DModel's defaults (Krea 2's).
TRANSFORMER = dict(
    in_channels=4 * Z_DIM, num_layers=2, attention_head_dim=8, num_attention_heads=2, num_key_value_heads=1, intermediate_size=32,
    timestep_embed_dim=16, text_hidden_dim=TEXT_WIDTH, num_text_layers=len(SELECT_LAYERS), text_num_attention_heads=2,
    text_num_key_value_heads=2, text_intermediate_size=32, num_layerwise_text_blocks=1, num_refiner_text_blocks=1,
    axes_dims_rope=(2, 2, 4),
)


def tokenizer() -> Any:
    """The toolkit's Qwen2 tokenizer over bytes (259 entries: 256 bytes and Qwen's three chat specials)."""
    return toolkit.tokenizers.qwen2()


def text_encoder(tok: Any) -> Any:
    """A tiny ``Qwen3VLModel``: a 2-layer, 16-wide language model and a 2-layer vision tower, Qwen's special ids from `tok`."""
    from transformers import Qwen3VLConfig, Qwen3VLModel

    ids = {"bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"), "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
           "pad_token_id": tok.convert_tokens_to_ids("<|endoftext|>")}
    text = dict(
        hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        head_dim=8, rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "mrope_interleaved": True}, vocab_size=len(tok), **ids,
    )
    vision = dict(depth=2, hidden_size=TEXT_WIDTH, intermediate_size=TEXT_WIDTH, num_heads=2, out_hidden_size=TEXT_WIDTH,
                  patch_size=16, deepstack_visual_indexes=[])
    return Qwen3VLModel(Qwen3VLConfig(text_config=text, vision_config=vision)).eval()


def transformer(**overrides: Any) -> Any:
    """A Krea2Transformer2DModel of :data:`TRANSFORMER` (about 9,000 parameters)."""
    from diffusers import Krea2Transformer2DModel

    return Krea2Transformer2DModel(**{**TRANSFORMER, **overrides})


def vae() -> Any:
    """A tiny AutoencoderKLQwenImage of 8, 16 and 32 channels, one residual block a level, 4x, 4 latent channels."""
    return toolkit.tiny.qwen_image_vae(Z_DIM)


def scheduler() -> Any:
    """Flow-match Euler with Krea 2's shift settings (:data:`SCHEDULER`)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**SCHEDULER)


def pipeline(family: str = KREA2, seed: int = 0, **config: Any) -> Any:
    """The tiny Krea2Pipeline, in memory (float32, random weights under `seed`); ValueError for a family not here.

    `config`: Krea2Pipeline's constructor values (``is_distilled``, ``patch_size``); ``text_encoder_select_layers``
    is :data:`SELECT_LAYERS` unless given.
    """
    from diffusers import Krea2Pipeline

    if family not in FAMILIES:
        raise ValueError(f"autopipe-krea2 builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    config = {"text_encoder_select_layers": SELECT_LAYERS, **config}
    with toolkit.tiny.seeded(seed):
        tok = tokenizer()
        return Krea2Pipeline(
            scheduler=scheduler(), vae=vae(), text_encoder=text_encoder(tok), tokenizer=tok, transformer=transformer(), **config,
        )


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint to `path` with save_pretrained: the ``autopipe_build_tiny`` hook.

    The family has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed)


def krea2_single_file(folder: Path, path: Path, *, prefix: str = "", dtype: str = "bfloat16") -> Path:
    """Write the transformer of the tiny checkpoint at `folder` to `path` as one .safetensors file, in Krea's original layout.

    The layout of :func:`autopipe_krea2.layout.original`, which diffusers'
    ``Krea2Transformer2DModel.from_single_file`` converts back; `prefix`
    ``"model.diffusion_model."`` gives ComfyUI's layout, which diffusers'
    converter strips. Saved in `dtype` (bfloat16, as Krea 2 is published).
    """
    from diffusers import Krea2Transformer2DModel

    from .layout import original

    model = Krea2Transformer2DModel.from_pretrained(Path(folder) / "transformer")
    return toolkit.transformer_file.save_tensors(original(model.state_dict()), path, prefix=prefix, dtype=dtype)
