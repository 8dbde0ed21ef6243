"""A tiny random-weight NucleusMoE-Image checkpoint, and why it cannot be built where torchvision is missing.

NucleusMoE-Image's architecture at a size where a 2-step 64x64 call takes
well under a second on a CPU:

- the tokenizer: the toolkit's Qwen2 tokenizer over bytes, with Qwen3-VL's
  vision markers as single special tokens (the processor counts
  ``<|image_pad|>``), built in memory;
- the processor: a ``Qwen3VLProcessor`` over it (the pipeline writes its
  chat template through ``apply_chat_template`` and tokenizes with it), its
  image processor capped at 4 merged 32 x 32 patches;
- the text encoder: a ``Qwen3VLForConditionalGeneration`` whose language
  model is 8 layers 16 wide (the pipeline reads hidden state -8) with a
  2-layer vision tower it never calls;
- the transformer: a NucleusMoEImageTransformer2DModel 32 wide (2 heads of
  16, 1 key/value head), 5 blocks: the first three and the last dense, the
  fourth a mixture of 4 experts (the class's default strategy), each taking
  half the tokens (:data:`CAPACITY`);
- the VAE: an AutoencoderKLQwenImage of 8, 16, 32 channels and 4 latent
  channels, 4x;
- the scheduler: flow-match Euler with dynamic shifting.

With transformers 5 a Qwen3VLProcessor needs torchvision (its video
processor): :func:`processor_missing` says whether this environment can
build one. Where it cannot, :func:`build` raises an UnsupportedModelError saying so
(no checkpoint of the family loads there either: diffusers loads the
processor with ``Qwen3VLProcessor.from_pretrained``), and
:func:`pipeline` with ``processor=False`` gives the pipeline without it,
which runs from ``prompt_embeds`` (:func:`prompt_embeds`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit
from autopipe_core.toolkit.tokenizers import QWEN2_SPECIALS, byte_level

from . import FAMILIES, NUCLEUSMOE

#: Qwen3-VL's vision markers, special tokens of its tokenizer.
VISION_SPECIALS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
#: The tiny text encoder's width, which the transformer's joint_attention_dim must match (the real encoder's hidden size).
TEXT_WIDTH = 16
#: The text encoder's layers: the pipeline reads hidden state -8 (default_return_index), so at least 8.
TEXT_LAYERS = 8
#: The tiny VAE's latent channels; a 2 x 2 patch of them is the transformer's 16 input channels.
Z_DIM = 4
#: Expert-choice capacity: each expert takes capacity x tokens / experts tokens, which must not exceed the tokens (the
#: class's default 8.0 is for 128 experts); with 4 experts, 2.0 gives each half the tokens.
CAPACITY = 2.0
#: Flow-match Euler with dynamic shifting (the pipeline passes mu, computed from the scheduler's shift settings).
SCHEDULER = {"use_dynamic_shifting": True, "base_image_seq_len": 256, "max_image_seq_len": 4096, "base_shift": 0.5, "max_shift": 1.15}
#: A chat template of Qwen's form for the processor's apply_chat_template: each message as <|im_start|>role, its text, <|im_end|>.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tokenizer() -> Any:
    """The toolkit's Qwen2 tokenizer over bytes, with Qwen3-VL's vision markers as single special tokens (264 entries)."""
    built = toolkit.tokenizers.qwen2(byte_level(QWEN2_SPECIALS + VISION_SPECIALS), [])
    built.add_special_tokens({"additional_special_tokens": list(VISION_SPECIALS)})
    return built


def processor(tok: Any) -> Any:
    """A Qwen3VLProcessor over `tok` (needs torchvision with transformers 5: an error from transformers otherwise)."""
    import transformers

    image_processor = transformers.Qwen2VLImageProcessor(min_pixels=32 * 32, max_pixels=4 * 32 * 32, patch_size=16)
    # transformers 5 needs the video half too (its video processors import torchvision).
    video_processor = transformers.Qwen3VLVideoProcessor(patch_size=16)
    return transformers.Qwen3VLProcessor(
        image_processor=image_processor, video_processor=video_processor, tokenizer=tok, chat_template=CHAT_TEMPLATE
    )


def processor_missing() -> str | None:
    """None when this environment can build a Qwen3VLProcessor; else why not (transformers 5 needs torchvision for it)."""
    return toolkit.tiny.unbuildable(lambda: processor(tokenizer()), "Qwen3VLProcessor", "the processor's video half")


def text_encoder(tok: Any) -> Any:
    """A tiny Qwen3VLForConditionalGeneration: 8 language layers 16 wide (2 heads of 8, rope sections 1, 1, 2), a 2-layer vision tower."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    ids = {"bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"), "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
           "pad_token_id": tok.convert_tokens_to_ids("<|endoftext|>")}
    text = dict(
        hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH, num_hidden_layers=TEXT_LAYERS, num_attention_heads=2,
        num_key_value_heads=2, head_dim=8, rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "mrope_interleaved": True},
        vocab_size=len(tok), **ids,
    )
    vision = dict(depth=2, hidden_size=TEXT_WIDTH, intermediate_size=TEXT_WIDTH, num_heads=2, out_hidden_size=TEXT_WIDTH,
                  patch_size=16, deepstack_visual_indexes=[])
    vision_ids = {
        "vision_start_token_id": tok.convert_tokens_to_ids("<|vision_start|>"), "vision_end_token_id": tok.convert_tokens_to_ids("<|vision_end|>"),
        "image_token_id": tok.convert_tokens_to_ids("<|image_pad|>"), "video_token_id": tok.convert_tokens_to_ids("<|video_pad|>"),
    }
    return Qwen3VLForConditionalGeneration(Qwen3VLConfig(text_config=text, vision_config=vision, **vision_ids)).eval()


def transformer() -> Any:
    """A tiny NucleusMoEImageTransformer2DModel: 32 wide, 5 blocks, the fourth a mixture of 4 experts."""
    from diffusers import NucleusMoEImageTransformer2DModel

    return NucleusMoEImageTransformer2DModel(
        patch_size=2, in_channels=4 * Z_DIM, out_channels=Z_DIM, num_layers=5, attention_head_dim=16, num_attention_heads=2, num_key_value_heads=1,
        joint_attention_dim=TEXT_WIDTH, axes_dims_rope=(4, 6, 6), num_experts=4, moe_intermediate_dim=16, capacity_factors=CAPACITY,
    )


def vae() -> Any:
    """A tiny AutoencoderKLQwenImage of 8, 16 and 32 channels, one residual block a level, 4x, 4 latent channels."""
    return toolkit.tiny.qwen_image_vae(Z_DIM)


def scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**SCHEDULER)


def pipeline(family: str = NUCLEUSMOE, seed: int = 0, processor: bool = True) -> Any:
    """The tiny NucleusMoEImagePipeline in memory, its weights drawn under `seed`.

    ValueError for a family this plugin does not build; UnsupportedModelError,
    saying why and what to install, where `processor` is asked for and cannot be built
    (:func:`processor_missing`). Without `processor`, the pipeline's
    processor is None: it runs from ``prompt_embeds`` only.
    """
    from diffusers import NucleusMoEImagePipeline

    if family not in FAMILIES:
        raise ValueError(f"autopipe-nucleusmoe builds no tiny {family!r}; it builds {', '.join(FAMILIES)}")
    if processor and (missing := processor_missing()) is not None:
        raise toolkit.tiny.cannot_build(family, missing)
    with toolkit.tiny.seeded(seed):
        tok = tokenizer()
        return NucleusMoEImagePipeline(
            transformer=transformer(), scheduler=scheduler(), vae=vae(), text_encoder=text_encoder(tok),
            processor=globals()["processor"](tok) if processor else None,
        )


def prompt_embeds(pipe: Any, prompt: str, tok: Any | None = None) -> tuple[Any, Any]:
    """(embeddings, mask) of `prompt` as the pipeline's encode_prompt makes them, without a processor.

    The pipeline's own chat format (``_format_prompt`` needs the processor's
    template, so the template here is :data:`CHAT_TEMPLATE`, rendered by the
    tokenizer), tokenized by :func:`tokenizer`, and hidden state -8 of the
    text encoder, as ``NucleusMoEImagePipeline.encode_prompt`` reads it.
    """
    import torch
    from diffusers.pipelines.nucleusmoe_image.pipeline_nucleusmoe_image import DEFAULT_SYSTEM_PROMPT

    tok = tok or tokenizer()
    messages = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": [{"type": "text", "text": prompt}]}]
    text = tok.apply_chat_template(messages, chat_template=CHAT_TEMPLATE, tokenize=False, add_generation_prompt=True)
    inputs = tok([text], return_tensors="pt")
    with torch.no_grad():
        out = pipe.text_encoder(**inputs, use_cache=False, return_dict=True, output_hidden_states=True)
    return out.hidden_states[pipe.default_return_index], inputs.attention_mask


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint to `path` with save_pretrained (``autopipe_build_tiny``); return the path.

    No variants (any `variant` but None is a ValueError); an UnsupportedModelError
    where the processor cannot be built (:func:`processor_missing`).
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed)
