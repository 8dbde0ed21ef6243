"""A tiny random-weight Ideogram 4 checkpoint, built offline in about a second.

An Ideogram4Pipeline of about 144,000 parameters, with the classes and the
config keys that matter of the real one:

- the tokenizer: the toolkit's byte-level Qwen2 tokenizer with a ChatML chat
  template of this plugin's (:data:`CHAT_TEMPLATE`; Ideogram4Pipeline formats
  every prompt with ``apply_chat_template`` over a user message whose content
  is a list of ``{"type": "text"}`` parts);
- the text encoder: transformers' ``Qwen3VLModel`` (the head-less Qwen3-VL
  the pipeline reads ``language_model`` of) 8 wide with **36** decoder layers:
  the pipeline taps layers 0, 3, ..., 33 and 35 and fails on a shallower one;
  a 1-block vision tower, which text-to-image never runs;
- two Ideogram4Transformer2DModel (``transformer`` and
  ``unconditional_transformer``, different random weights) 16 wide, one block
  of 2 heads, taking 13 x 8 = 104 text features a token and 16 latent channels
  (the VAE's 4 patchified 2 x 2), its MRoPE sections (2, 1, 1) over 8-wide heads;
- the VAE: an AutoencoderKLFlux2 with four levels (8x, as FLUX.2's: 64x64
  pixels are 8 x 8 latents, 4 x 4 image tokens once patchified) and the batch
  norm whose running statistics the pipeline de-normalises the latents with;
- the scheduler: flow-match Euler (the pipeline sets its own logit-normal sigmas).

No ``prompt_enhancer_head`` (the component is optional; the pipeline refuses
``prompt_upsampling=True`` without it, saying how to pass one):
:func:`prompt_enhancer_head` builds one to pass.

Its calls: Ideogram4Pipeline draws 2048x2048 over 2,048 text tokens with a
48-step guidance schedule unless told, so a call of other than 48 steps needs
``guidance_scale=`` and ``guidance_schedule=None`` (diffusers refuses a
schedule of another length); the tests pass ``height``, ``width`` and
``max_sequence_length`` small too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import FAMILIES, IDEOGRAM4, IDEOGRAM4_CLASS

#: The tiny text encoder's width, and its depth: one past the last layer Ideogram4Pipeline taps (35).
TEXT_WIDTH = 8
TEXT_LAYERS = 36
#: Decoder layers Ideogram4Pipeline concatenates (QWEN3_VL_ACTIVATION_LAYERS in diffusers 0.42.1): 13.
TAPPED = 13
#: The VAE's latent channels, patchified 2 x 2 into the transformer's input.
LATENT_CHANNELS = 4
IN_CHANNELS = 4 * LATENT_CHANNELS
VAE_BLOCKS = (8, 8, 16, 16)

#: A chat template for the tiny Qwen2 tokenizer, this plugin's own: ChatML turns (Qwen3-VL's markers), a message's text
#: given as a string or as a list of {"type": "text"} parts, and with add_generation_prompt the assistant's turn opened.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

VARIANTS = (None,)


def tokenizer() -> Any:
    """The toolkit's byte-level Qwen2 tokenizer (259 entries) with :data:`CHAT_TEMPLATE`."""
    return toolkit.tokenizers.qwen2(chat_template=CHAT_TEMPLATE)


def text_encoder(vocab_size: int) -> Any:
    """A tiny Qwen3VLModel: a 36-layer language model 8 wide (2 heads of 8, one key/value head) and a 1-block vision tower."""
    from transformers import Qwen3VLConfig, Qwen3VLModel

    config = Qwen3VLConfig(
        text_config=dict(
            hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH, num_hidden_layers=TEXT_LAYERS, num_attention_heads=2,
            num_key_value_heads=1, head_dim=8, vocab_size=vocab_size, max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]},
        ),
        vision_config=dict(
            hidden_size=8, depth=1, num_heads=2, intermediate_size=16, out_hidden_size=TEXT_WIDTH, patch_size=14,
            deepstack_visual_indexes=[0],
        ),
    )
    return Qwen3VLModel(config).eval()


def transformer() -> Any:
    """A tiny Ideogram4Transformer2DModel: one block, 2 heads of 8, taking :data:`TAPPED` x :data:`TEXT_WIDTH` text features."""
    from diffusers import Ideogram4Transformer2DModel

    return Ideogram4Transformer2DModel(
        in_channels=IN_CHANNELS, num_layers=1, attention_head_dim=8, num_attention_heads=2, intermediate_size=32, adaln_dim=16,
        llm_features_dim=TAPPED * TEXT_WIDTH, rope_theta=10000, mrope_section=(2, 1, 1),
    )


def vae() -> Any:
    """AutoencoderKLFlux2 at toy width: four levels (8x), 4 latent channels, quant convolutions and batch norm as FLUX.2's."""
    from diffusers import AutoencoderKLFlux2

    return AutoencoderKLFlux2(block_out_channels=VAE_BLOCKS, layers_per_block=1, latent_channels=LATENT_CHANNELS, norm_num_groups=4, sample_size=64)


def prompt_enhancer_head(vocab_size: int) -> Any:
    """A tiny Ideogram4PromptEnhancerHead (the optional LM head for prompt upsampling), :data:`TEXT_WIDTH` to `vocab_size`."""
    from diffusers import Ideogram4PromptEnhancerHead

    return Ideogram4PromptEnhancerHead(hidden_size=TEXT_WIDTH, vocab_size=vocab_size)


def pipeline(family: str = IDEOGRAM4, seed: int = 0) -> Any:
    """The tiny pipeline of `family`, in memory (float32, random weights under `seed`). ValueError for a family not here."""
    import diffusers
    from diffusers import FlowMatchEulerDiscreteScheduler

    if family not in FAMILIES:
        raise ValueError(f"autopipe-ideogram builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    with toolkit.tiny.seeded(seed):
        tok = tokenizer()
        return getattr(diffusers, IDEOGRAM4_CLASS)(
            scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae(), text_encoder=text_encoder(len(tok)), tokenizer=tok,
            transformer=transformer(), unconditional_transformer=transformer(),
        )


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint of `family` to `path` with save_pretrained: the ``autopipe_build_tiny`` hook; returns the path.

    The family has its ordinary checkpoint only (`variant` None); another
    variant is a ValueError naming what is built, and so is another family.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed, VARIANTS)
