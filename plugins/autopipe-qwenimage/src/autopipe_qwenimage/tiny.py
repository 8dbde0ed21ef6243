"""Tiny random-weight Qwen-Image checkpoints of every family, built offline in seconds.

The architecture is each family's: a QwenImageTransformer2DModel (2 x 2
patches of 4-channel latents, so 16 input channels; 3 heads of 16, 2 layers),
a Qwen2.5-VL text encoder with its vision tower (2 layers 16 wide each), a
Qwen2 tokenizer built in memory (the toolkit's byte-level vocabulary, with
Qwen2.5-VL's vision markers as single special tokens so that the
``<|image_pad|>`` placeholders the Edit pipelines write tokenize as the real
ones do), an AutoencoderKLQwenImage of 8, 16 and 32 channels with two 2x
downsamplings (a 64 x 64 image is 16 x 16 latents), and Qwen-Image's
flow-matching scheduler settings. About 750,000 parameters; a 2-step 64 x 64
call takes about a second on a CPU, most of it the VAE's causal convolutions.
The sizes follow diffusers' own tests of these pipelines
(tests/pipelines/qwenimage), with a vocabulary of 264 instead of 152,064.

The Edit, Edit-Plus and Layered checkpoints add a Qwen2VLProcessor (its image
processor capped at 4 x 28 x 28 pixels, so the vision tower sees 16 patches);
Layered's transformer takes the RGB/RGBA condition and its VAE 4 channels;
Qwen-Image 2.1 has its own transformer, VAE and a Qwen3-VL encoder. A
processor of either kind needs torchvision with transformers 5 (the
processors' video half): :func:`vision_processor_missing` says whether this
environment can build one, and the builder raises an UnsupportedModelError
that says so, and what to install, where it cannot (the environment's
limit, not a bug of this plugin).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit
from autopipe_core.toolkit.tokenizers import QWEN2_SPECIALS, byte_level

from . import EDIT, EDIT_PLUS, FAMILY, LAYERED, QWENIMAGE21

#: Qwen2.5-VL's (and Qwen3-VL's) vision markers, special tokens of its tokenizer: ``<|image_pad|>`` is the placeholder
#: a processor repeats once per merged image patch.
VISION_SPECIALS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
#: The tiny text encoders' width, which the transformer's joint_attention_dim (context_in_dim for 2.1) must match.
TEXT_WIDTH = 16
#: The tiny VAE's latent channels; a 2 x 2 patch of them is the transformer's 16 input channels.
Z_DIM = 4
#: Layered's latent channels: not 4, or QwenImageLayeredPipeline takes a 4-channel (RGBA) image for latents already encoded.
LAYERED_Z_DIM = 8
#: Qwen-Image's FlowMatchEulerDiscreteScheduler settings (Qwen/Qwen-Image scheduler/scheduler_config.json): a shift that
#: grows with the image's token count, exponential time shift, a terminal sigma of 0.02.
SCHEDULER = {
    "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 8192, "max_shift": 0.9, "num_train_timesteps": 1000,
    "shift": 1.0, "shift_terminal": 0.02, "time_shift_type": "exponential", "use_dynamic_shifting": True,
}
#: A chat template of Qwen's form, for the processors' apply_chat_template (Qwen-Image 2.1 counts its system prompt's
#: tokens with it): each message as <|im_start|>role, its text parts, <|im_end|>.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
#: The image processors' pixel range: 1 to 4 merged 28 x 28 patches, so a tiny vision tower sees at most 16 patches.
MIN_PIXELS, MAX_PIXELS = 28 * 28, 4 * 28 * 28

VARIANTS = (None,)


def tokenizer() -> Any:
    """The toolkit's Qwen2 tokenizer over bytes, with Qwen2.5-VL's vision markers as single special tokens (264 entries)."""
    built = toolkit.tokenizers.qwen2(byte_level(QWEN2_SPECIALS + VISION_SPECIALS), [])
    built.add_special_tokens({"additional_special_tokens": list(VISION_SPECIALS)})
    return built


def _vision_ids(tok: Any) -> dict[str, int]:
    ids = {t: tok.convert_tokens_to_ids(t) for t in VISION_SPECIALS}
    return {
        "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"],
        "image_token_id": ids["<|image_pad|>"], "video_token_id": ids["<|video_pad|>"],
    }


def _text_ids(tok: Any) -> dict[str, int]:
    """Qwen's end of text (bos and padding) and <|im_end|> (eos), as ids of the tiny vocabulary."""
    return {"bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"), "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
            "pad_token_id": tok.convert_tokens_to_ids("<|endoftext|>")}


def text_encoder(tok: Any) -> Any:
    """A tiny Qwen2_5_VLForConditionalGeneration: 2 text layers 16 wide (multimodal rope sections 1, 1, 2) and a 2-layer vision tower."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    text = dict(
        hidden_size=TEXT_WIDTH, intermediate_size=TEXT_WIDTH, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}, rope_theta=1_000_000.0,
        vocab_size=len(tok), **_text_ids(tok),
    )
    vision = dict(depth=2, hidden_size=TEXT_WIDTH, intermediate_size=TEXT_WIDTH, num_heads=2, out_hidden_size=TEXT_WIDTH)
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, vocab_size=len(tok), **_vision_ids(tok))
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def transformer(layered: bool = False) -> Any:
    """A tiny QwenImageTransformer2DModel; `layered`: Qwen-Image-Layered's, with the RGB/RGBA condition and 3-D layer rope."""
    from diffusers import QwenImageTransformer2DModel

    extra = {"use_additional_t_cond": True, "use_layer3d_rope": True} if layered else {}
    z_dim = LAYERED_Z_DIM if layered else Z_DIM
    return QwenImageTransformer2DModel(
        patch_size=2, in_channels=4 * z_dim, out_channels=z_dim, num_layers=2, attention_head_dim=16, num_attention_heads=3,
        joint_attention_dim=TEXT_WIDTH, axes_dims_rope=(8, 4, 4), **extra,
    )


def controlnet(transformer_config: Any, extra_condition_channels: int = 0) -> Any:
    """A tiny QwenImageControlNetModel for a transformer of this config; 4 extra channels make an inpainting ControlNet (the packed mask)."""
    from diffusers import QwenImageControlNetModel

    keys = ("patch_size", "in_channels", "out_channels", "attention_head_dim", "num_attention_heads", "joint_attention_dim", "axes_dims_rope")
    return QwenImageControlNetModel(num_layers=1, extra_condition_channels=extra_condition_channels, **{k: transformer_config[k] for k in keys})


def vae(input_channels: int = 3, downsamples: int = 2) -> Any:
    """A tiny AutoencoderKLQwenImage of 8, 16, 32 channels (one residual block a level) that downsamples 2 ** `downsamples` times.

    4 input channels for Layered's RGBA, whose latents then have LAYERED_Z_DIM channels. The Edit families' VAE
    downsamples 16 times: their pipelines always encode the input image at about 1024 x 1024 pixels, which 4x
    latents would make 16,384 tokens.
    """
    z_dim = LAYERED_Z_DIM if input_channels == 4 else Z_DIM
    return toolkit.tiny.qwen_image_vae(z_dim, downsamples=downsamples, input_channels=input_channels)


def scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**SCHEDULER)


def vision_processor_missing() -> str | None:
    """None when this environment can build a Qwen2-VL processor; else why not (transformers 5 needs torchvision for it)."""
    return toolkit.tiny.unbuildable(lambda: processor(tokenizer()), "Qwen2VLProcessor", "the processor's video half")


def processor(tok: Any, qwen3: bool = False) -> Any:
    """A Qwen2VLProcessor (Qwen3VLProcessor with `qwen3`) over `tok`, its image processor capped at MAX_PIXELS."""
    import transformers

    image_processor = transformers.Qwen2VLImageProcessor(
        min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, **({"patch_size": 16} if qwen3 else {})
    )
    cls = transformers.Qwen3VLProcessor if qwen3 else transformers.Qwen2VLProcessor
    # transformers 5 needs the video half too (its video processors import torchvision).
    video = transformers.Qwen3VLVideoProcessor(patch_size=16) if qwen3 else transformers.Qwen2VLVideoProcessor()
    return cls(image_processor=image_processor, video_processor=video, tokenizer=tok, chat_template=CHAT_TEMPLATE)


def _qwenimage21(tok: Any) -> dict[str, Any]:
    """Qwen-Image 2.1's components at tiny size: a Qwen3-VL encoder, QwenImage21Transformer2DModel, AutoencoderKLQwenImage21."""
    from diffusers import AutoencoderKLQwenImage21, QwenImage21Transformer2DModel
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    text = dict(
        hidden_size=TEXT_WIDTH, intermediate_size=TEXT_WIDTH, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        head_dim=8, rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "mrope_interleaved": True}, vocab_size=len(tok),
        **_text_ids(tok),
    )
    vision = dict(depth=2, hidden_size=TEXT_WIDTH, intermediate_size=TEXT_WIDTH, num_heads=2, out_hidden_size=TEXT_WIDTH,
                  patch_size=16, deepstack_visual_indexes=[])
    encoder = Qwen3VLForConditionalGeneration(Qwen3VLConfig(text_config=text, vision_config=vision, **_vision_ids(tok))).eval()
    model = QwenImage21Transformer2DModel(
        patch_size=1, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=16, num_attention_heads=3,
        context_in_dim=TEXT_WIDTH, axes_dims_rope=(8, 4, 4),
    )
    autoencoder = AutoencoderKLQwenImage21(
        base_dim=8, decoder_base_dim=8, z_dim=16, dim_mult=[1, 2, 2, 2, 2], num_res_blocks=1,
        temperal_downsample=[False, False, False, False], latents_mean=[0.0] * 16, latents_std=[1.0] * 16,
    )
    return {"text_encoder": encoder, "transformer": model, "vae": autoencoder, "processor": processor(tok, qwen3=True)}


CLASSES = {
    FAMILY: "QwenImagePipeline", EDIT: "QwenImageEditPipeline", EDIT_PLUS: "QwenImageEditPlusPipeline",
    LAYERED: "QwenImageLayeredPipeline", QWENIMAGE21: "QwenImage21Pipeline",
}


def pipeline(family: str, seed: int = 0) -> Any:
    """The tiny pipeline of `family` (its class in CLASSES), in memory, its weights drawn under `seed`.

    ValueError for a family this plugin does not build; UnsupportedModelError,
    saying why and what to install, for one that needs a VL processor where
    transformers cannot build one (:func:`vision_processor_missing`).
    """
    import diffusers

    if family not in CLASSES:
        raise ValueError(f"autopipe-qwenimage builds no tiny {family!r}; it builds {', '.join(CLASSES)}")
    if family != FAMILY and (missing := vision_processor_missing()) is not None:
        raise toolkit.tiny.cannot_build(family, missing)
    with toolkit.tiny.seeded(seed):
        tok = tokenizer()
        if family == QWENIMAGE21:
            components: dict[str, Any] = _qwenimage21(tok)
        else:
            layered = family == LAYERED
            components = {
                "text_encoder": text_encoder(tok), "tokenizer": tok, "transformer": transformer(layered=layered),
                "vae": vae(input_channels=4 if layered else 3, downsamples=2 if family == FAMILY else 4),
            }
            if family != FAMILY:
                components["processor"] = processor(tok)
    return getattr(diffusers, CLASSES[family])(scheduler=scheduler(), **components)


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint of `family` to `path` with save_pretrained (``autopipe_build_tiny``); returns the path.

    qwenimage: QwenImagePipeline. qwenimage-edit: QwenImageEditPipeline.
    qwenimage-edit-plus: QwenImageEditPlusPipeline. qwenimage-layered:
    QwenImageLayeredPipeline (RGBA VAE, layered transformer). qwenimage21:
    QwenImage21Pipeline. No family has tiny variants: any `variant` but None
    is a ValueError; see :func:`pipeline` for the other errors.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed, VARIANTS)
