"""Tiny random-weight FLUX.2 [dev] and [klein] checkpoints, built offline in seconds.

The architecture is the real one at toy widths, each property the pipelines
depend on kept:

- ``Flux2Transformer2DModel``: one double and one single block, 2 heads of 16
  (rotary axes 4 + 4 + 4 + 4 = 16, four as FLUX.2's), taking the VAE's latents
  patchified 2 x 2 (4 x its latent channels, as FLUX.2's 128 = 4 x 32), its
  ``joint_attention_dim`` three text-encoder widths (FLUX.2 stacks three hidden
  states); the guidance embedding for [dev], none for [klein].
- ``AutoencoderKLFlux2``: four levels (a factor of 8: 64 x 64 pixels are 8 x 8
  latents, 16 tokens once patchified), with its quant convolutions and the
  batch norm whose running statistics normalise the latents, as FLUX.2's.
- The text encoders deep enough for the layers the pipelines read by default:
  ``Mistral3ForConditionalGeneration`` (a Mistral language model and a Pixtral
  vision tower) with 30 layers, for Flux2Pipeline's hidden states 10, 20 and
  30; ``Qwen3ForCausalLM`` with 27, for the Klein pipelines' 9, 18 and 27.
  16 wide, so three stacked states are 48.
- ``FlowMatchEulerDiscreteScheduler`` as FLUX.2's repositories ship it
  (FLUX.1-dev's settings, which diffusers' conversion script copies; the
  pipelines compute their own shift, ``mu``, from the image's token count).

Tokenizers are built in memory. FLUX.2 [klein]'s is a Qwen2 byte-level BPE
(``toolkit.tokenizers.qwen2``) with a chat template of this plugin's
(:data:`QWEN_TEMPLATE`). FLUX.2 [dev]'s real tokenizer component is a
``PixtralProcessor``, which transformers 5 builds only with torchvision; this
environment has none, so the tiny [dev] checkpoint's ``tokenizer`` is that
processor's tokenizer alone (a SentencePiece-style BPE, ``toolkit.tokenizers.llama``,
with :data:`MISTRAL_TEMPLATE`): everything Flux2Pipeline's prompt encoding
calls (``apply_chat_template`` over a batch of system and user messages). The
processor's image half serves only caption upsampling
(``caption_upsample_temperature=``), which the tiny checkpoint cannot do.
tests/test_flux2_plugin.py checks that the bare tokenizer encodes as the
processor over it does, where torchvision lets the processor be built.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from autopipe_core import toolkit

from . import FLUX2, KLEIN, KV

#: Text encoders: 16 wide; the transformer's joint_attention_dim is three stacked hidden states.
TEXT_WIDTH = 16
STACKED = 3
#: Enough layers for the hidden states each pipeline reads by default: Flux2Pipeline's (10, 20, 30), the Klein pipelines' (9, 18, 27).
MISTRAL_LAYERS = 30
QWEN_LAYERS = 27
#: The transformer: 2 heads of 16, four rotary axes of 4.
HEADS, HEAD_DIM, AXES = 2, 16, (4, 4, 4, 4)
#: The VAE: four levels (8x), 4 latent channels patchified 2 x 2 into the transformer's 16 input channels.
VAE_BLOCKS = (16, 16, 32, 32)
LATENT_CHANNELS = 4
IN_CHANNELS = 4 * LATENT_CHANNELS

#: FlowMatchEulerDiscreteScheduler as the FLUX.2 repositories ship it (FLUX.1-dev's settings).
SCHEDULE = MappingProxyType(dict(
    num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096,
))

#: A chat template for the tiny Mistral-style tokenizer, this plugin's own: the beginning-of-sequence token, each system
#: message in [SYSTEM_PROMPT] markers, each user message in [INST] markers, the text of a message given as a string or
#: as a list of {"type": "text"} parts (Flux2Pipeline's format_input gives the latter).
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['content'] is string %}{% set text = message['content'] %}"
    "{% else %}{% set text = message['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text') | join('') %}{% endif %}"
    "{% if message['role'] == 'system' %}[SYSTEM_PROMPT]{{ text }}[/SYSTEM_PROMPT]"
    "{% elif message['role'] == 'user' %}[INST]{{ text }}[/INST]"
    "{% else %}{{ text }}{{ eos_token }}{% endif %}{% endfor %}"
)
#: A chat template for the tiny Qwen tokenizer, this plugin's own: ChatML turns, and with add_generation_prompt the
#: assistant's turn opened, an empty thinking block in it when enable_thinking is false (the Klein pipelines pass both).
QWEN_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)

BASE = "base"
#: What the builder makes for each family: None is the ordinary checkpoint ([dev]; [klein] step-distilled, as FLUX.2-klein-4B);
#: "base" the undistilled [klein] (is_distilled false), "kv" a Flux2KleinKVPipeline checkpoint.
KINDS = MappingProxyType({FLUX2: (None,), KLEIN: (None, BASE, KV)})


def mistral_tokenizer() -> Any:
    """The tiny FLUX.2 [dev] tokenizer: a Llama-style BPE over characters with ``<pad>``, and :data:`MISTRAL_TEMPLATE`."""
    tokenizers = toolkit.tokenizers
    vocab, merges = tokenizers.bpe_characters(("<unk>", "<s>", "</s>", "<pad>"))
    tokenizer = tokenizers.llama(vocab, merges, pad_token="<pad>")
    tokenizer.chat_template = MISTRAL_TEMPLATE
    return tokenizer


def qwen_tokenizer() -> Any:
    """The tiny FLUX.2 [klein] tokenizer: the toolkit's byte-level Qwen2 tokenizer with :data:`QWEN_TEMPLATE`."""
    return toolkit.tokenizers.qwen2(chat_template=QWEN_TEMPLATE)


def mistral_encoder(vocab_size: int) -> Any:
    """Mistral3ForConditionalGeneration at toy width: a 30-layer Mistral (16 wide, untied LM head) and a 1-layer Pixtral tower."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    config = Mistral3Config(
        text_config=dict(
            model_type="mistral", vocab_size=vocab_size, hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH,
            num_hidden_layers=MISTRAL_LAYERS, num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=1024,
            rms_norm_eps=1e-5, rope_theta=1e9, sliding_window=None, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=3,
        ),
        vision_config=dict(
            model_type="pixtral", hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH, num_hidden_layers=1, num_attention_heads=2,
            head_dim=8, image_size=32, patch_size=8, num_channels=3,
        ),
        image_token_index=0, multimodal_projector_bias=False, projector_hidden_act="gelu", spatial_merge_size=2,
        vision_feature_layer=-1, tie_word_embeddings=False,
    )
    return Mistral3ForConditionalGeneration(config)


def qwen_encoder(vocab_size: int) -> Any:
    """Qwen3ForCausalLM at toy width: 27 layers, 16 wide, its LM head tied to the embedding (as Qwen3-4B's)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab_size, hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH, num_hidden_layers=QWEN_LAYERS,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=1024, tie_word_embeddings=True,
    )
    return Qwen3ForCausalLM(config)


def transformer(guidance: bool) -> Any:
    """Flux2Transformer2DModel at toy width; `guidance` embeds the guidance scale ([dev]), none for [klein]."""
    from diffusers import Flux2Transformer2DModel

    return Flux2Transformer2DModel(
        patch_size=1, in_channels=IN_CHANNELS, num_layers=1, num_single_layers=1, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=STACKED * TEXT_WIDTH, axes_dims_rope=AXES, guidance_embeds=guidance,
    )


def vae() -> Any:
    """AutoencoderKLFlux2 at toy width: four levels (8x), 4 latent channels, quant convolutions and batch norm as FLUX.2's."""
    from diffusers import AutoencoderKLFlux2

    return AutoencoderKLFlux2(block_out_channels=VAE_BLOCKS, layers_per_block=1, latent_channels=LATENT_CHANNELS, norm_num_groups=8, sample_size=64)


def scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**SCHEDULE)


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save a tiny checkpoint of `family` ("flux2" or "flux2-klein") to `path` with save_pretrained; returns `path`.

    flux2: Flux2Pipeline. flux2-klein: None is Flux2KleinPipeline with
    ``is_distilled`` true (FLUX.2-klein-4B's kind), "base" the same with it
    false, "kv" Flux2KleinKVPipeline. A variant the family does not build is a
    ValueError naming those it does; the same seed gives the same weights.
    """
    import diffusers

    known = KINDS.get(family, ())
    if variant not in known:
        raise toolkit.tiny.unknown_variant(family, variant, known or (None,))
    with toolkit.tiny.seeded(seed):
        if family == FLUX2:
            tokenizer = mistral_tokenizer()
            pipeline = diffusers.Flux2Pipeline(
                scheduler=scheduler(), vae=vae(), text_encoder=mistral_encoder(len(tokenizer)), tokenizer=tokenizer, transformer=transformer(True),
            )
        else:
            tokenizer = qwen_tokenizer()
            parts = dict(scheduler=scheduler(), vae=vae(), text_encoder=qwen_encoder(len(tokenizer)), tokenizer=tokenizer, transformer=transformer(False))
            if variant == KV:
                pipeline = diffusers.Flux2KleinKVPipeline(**parts)
            else:
                pipeline = diffusers.Flux2KleinPipeline(**parts, is_distilled=variant != BASE)
    pipeline.save_pretrained(path)
    return Path(path)
