"""Tiny random-weight Z-Image and Z-Image-Omni checkpoints, built offline in seconds, and tiny ControlNets for them.

The architecture is the family's, at the sizes of diffusers' own Z-Image tests
(tests/pipelines/z_image): a ZImageTransformer2DModel 32 wide (2 heads of 16,
2 layers, 1 noise- and 1 context-refiner layer, 2 x 2 patches of 16 latent
channels, rope axes 8, 4, 4), a Qwen3Model text encoder 16 wide (2 layers:
the pipelines read its second-to-last hidden state), a Qwen2 tokenizer over
bytes built in memory with a chat template of Qwen's form (the pipelines wrap
each prompt with ``apply_chat_template``), FLUX.1's VAE layout at the
toolkit's tiny size (16 latent channels, scaling 0.3611 and shift 0.1159, no
quant convolutions: a 64 x 64 image is 32 x 32 latents) and Z-Image-Turbo's
scheduler settings. About 290,000 parameters; a 2-step 64 x 64 call takes
well under a second on a CPU.

Z-Image-Omni adds the transformer's SigLIP embedder (``siglip_feat_dim``), a
Siglip2VisionModel 16 wide and its Siglip2ImageProcessor. transformers 5
builds that image processor only with torchvision; where it cannot (this
repository's .venv: PyPI's torchvision wheels are CUDA builds that do not
load with its CPU torch), the tiny Omni checkpoint is saved with
``siglip_processor`` None, which text-to-image never calls
(``prepare_siglip_embeds`` loops over the condition images only), and
:func:`siglip_processor_missing` says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopipe_core import toolkit

from . import FAMILY, OMNI

#: Qwen3's vision markers, special tokens of Z-Image's tokenizer: ZImageOmniPipeline writes them around condition images.
VISION_SPECIALS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
#: Qwen3's thinking markers, which its chat template writes when thinking is off.
THINK_SPECIALS = ("<think>", "</think>")
#: The tiny text encoder's width: the transformer's cap_feat_dim must match it.
TEXT_WIDTH = 16
#: The tiny SigLIP2 vision tower's width: the Omni transformer's siglip_feat_dim.
SIGLIP_WIDTH = 16
#: Z-Image's latent channels (FLUX.1's VAE).
LATENT_CHANNELS = 16
#: Z-Image-Turbo's VAE latent scaling and shift (vae/config.json; FLUX.1's VAE's).
SCALING_FACTOR = 0.3611
SHIFT_FACTOR = 0.1159
#: Z-Image-Turbo's scheduler/scheduler_config.json: a fixed shift of 3, no resolution-dependent shift.
SCHEDULER = {"num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": False}
#: A chat template of Qwen3's form: each message as <|im_start|>role ... <|im_end|>; the assistant's turn opened when asked,
#: with an empty thinking block when thinking is off (ZImagePipeline passes enable_thinking=True, which writes none).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
#: The tiny transformer's rope lengths: caption positions (a prompt of up to 512 tokens, padded to 32, then the image's
#: frame index) and up to 64 patches a side.
AXES_LENS = (1024, 64, 64)

VARIANTS = (None,)
CLASSES = {FAMILY: "ZImagePipeline", OMNI: "ZImageOmniPipeline"}


def tokenizer() -> Any:
    """The toolkit's Qwen2 tokenizer over bytes, with Qwen3's vision and thinking markers as single special tokens and a chat template."""
    return toolkit.tokenizers.qwen2(specials=VISION_SPECIALS + THINK_SPECIALS, chat_template=CHAT_TEMPLATE)


def text_encoder(tok: Any) -> Any:
    """A tiny Qwen3Model (Z-Image's Qwen3-4B at 16 wide): 2 layers, 2 heads of 8, one key/value head."""
    return toolkit.tiny.qwen3_encoder(tok, TEXT_WIDTH, positions=1024)


def transformer(siglip_feat_dim: int | None = None) -> Any:
    """A tiny ZImageTransformer2DModel; `siglip_feat_dim`: Z-Image-Omni's, with the SigLIP embedder and refiner."""
    from diffusers import ZImageTransformer2DModel

    return ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=LATENT_CHANNELS, dim=32, n_layers=2, n_refiner_layers=1,
        n_heads=2, n_kv_heads=2, cap_feat_dim=TEXT_WIDTH, siglip_feat_dim=siglip_feat_dim, axes_dims=[8, 4, 4], axes_lens=list(AXES_LENS),
    )


def controlnet(transformer_config: Any, control_in_dim: int = LATENT_CHANNELS, refiner: str | None = None) -> Any:
    """A tiny ZImageControlNetModel for a transformer of this config, one control block a transformer layer.

    `control_in_dim` 16 is the first Union ControlNet's (control latents
    only); 33 the 2.0 and 2.1 ones' (control latents, the mask and the masked
    image's latents: what ZImageControlNetInpaintPipeline gives). `refiner`
    is ``add_control_noise_refiner``: None (the first Union),
    "control_layers" (2.0) or "control_noise_refiner" (2.1).
    """
    from diffusers import ZImageControlNetModel

    keys = ("all_patch_size", "all_f_patch_size", "dim", "n_refiner_layers", "n_heads", "n_kv_heads", "norm_eps", "qk_norm")
    places = list(range(transformer_config["n_layers"]))
    refiner_places = list(range(transformer_config["n_refiner_layers"])) if refiner else None
    return ZImageControlNetModel(
        control_layers_places=places, control_refiner_layers_places=refiner_places, control_in_dim=control_in_dim,
        add_control_noise_refiner=refiner, **{k: transformer_config[k] for k in keys},
    )


def vae() -> Any:
    """The toolkit's tiny AutoencoderKL in FLUX.1's layout: 16 latent channels, its scaling and shift, no quant convolutions."""
    return toolkit.tiny.vae(
        latent_channels=LATENT_CHANNELS, scaling_factor=SCALING_FACTOR, force_upcast=True, shift_factor=SHIFT_FACTOR,
        use_quant_conv=False, use_post_quant_conv=False,
    )


def scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**SCHEDULER)


def siglip() -> Any:
    """A tiny Siglip2VisionModel (Z-Image-Omni's SigLIP2 at 16 wide): 2 layers, 2 heads, 16-pixel patches."""
    from transformers import Siglip2VisionConfig, Siglip2VisionModel

    config = Siglip2VisionConfig(
        hidden_size=SIGLIP_WIDTH, intermediate_size=2 * SIGLIP_WIDTH, num_hidden_layers=2, num_attention_heads=2, patch_size=16, num_patches=16,
    )
    return Siglip2VisionModel(config).eval()


def siglip_processor() -> Any:
    """A Siglip2ImageProcessor for :func:`siglip`'s patches, capped at 16 of them; raises where transformers cannot build one."""
    from transformers import Siglip2ImageProcessor

    return Siglip2ImageProcessor(patch_size=16, max_num_patches=16)


def siglip_processor_missing() -> str | None:
    """None when this environment can build a Siglip2ImageProcessor; else why not (transformers 5 needs torchvision for it)."""
    return toolkit.tiny.unbuildable(siglip_processor, "Siglip2ImageProcessor")


def pipeline(family: str, seed: int = 0) -> Any:
    """The tiny pipeline of `family` (its class in CLASSES), in memory, its weights drawn under `seed`.

    ValueError for a family this plugin does not build.
    """
    import diffusers

    if family not in CLASSES:
        raise ValueError(f"autopipe-zimage builds no tiny {family!r}; it builds {', '.join(CLASSES)}")
    with toolkit.tiny.seeded(seed):
        tok = tokenizer()
        components: dict[str, Any] = {"text_encoder": text_encoder(tok), "tokenizer": tok, "vae": vae(), "scheduler": scheduler()}
        if family == OMNI:
            components["transformer"] = transformer(siglip_feat_dim=SIGLIP_WIDTH)
            components["siglip"] = siglip()
            components["siglip_processor"] = None if siglip_processor_missing() else siglip_processor()
        else:
            components["transformer"] = transformer()
    return getattr(diffusers, CLASSES[family])(**components)


def build(family: str, path: Path, variant: str | None = None, seed: int = 0) -> Path:
    """Save the tiny checkpoint of `family` to `path` with save_pretrained (``autopipe_build_tiny``); returns the path.

    z-image: ZImagePipeline. z-image-omni: ZImageOmniPipeline (see the
    module's docstring for its processor). Neither has tiny variants: any
    `variant` but None is a ValueError, and so is another family.
    """
    return toolkit.tiny.save(pipeline, family, path, variant, seed, VARIANTS)
