"""Tiny random-weight components for ``autopipe_build_tiny``: the sizes every shipped plugin uses, in one place.

A tiny checkpoint has the family's architecture (its classes, the config
keys that matter) at a size where a 2-step 64x64 call takes well under a
second on a CPU: two blocks of 16 and 32 channels with one layer each, group
norms of 8, a 2-layer text encoder of width 32. Build them inside
:func:`seeded` so that the same seed gives the same weights, and refuse a
variant you do not build with :func:`unknown_variant`::

    from autopipe_core import toolkit

    def build(path, variant=None, seed=0):
        if variant not in (None, "inpainting-only"):
            raise toolkit.tiny.unknown_variant("my-family", variant, (None, "inpainting-only"))
        with toolkit.tiny.seeded(seed):
            tokenizer = toolkit.tokenizers.clip_characters()
            ...

Importing this module imports no torch, diffusers or transformers; each
builder does. Every builder takes keyword overrides that go to the class's
constructor unchanged, for the keys a family sets differently.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping, Sequence

__all__ = [
    "BLOCKS", "EIGHT_X", "HIDDEN", "SD_SCHEDULE", "clip_text_encoder", "qwen3_encoder", "qwen_image_vae", "save", "scheduler", "seeded",
    "t5_encoder", "unet", "unknown_variant", "unbuildable", "cannot_build", "vae", "vae_8x",
]

#: The width of the tiny text encoders and of the UNet's cross-attention.
HIDDEN = 32
#: The tiny UNet's and VAE's channels per level.
BLOCKS = (16, 32)


@contextlib.contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """Seed torch's CPU generator with `seed` for the block, and give the caller's generator state back after it.

    Components built inside get the same random weights for the same seed
    and the same order of construction; the code around the build draws the
    numbers it would have drawn without it.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def unknown_variant(family: str, variant: object, known: Sequence[str | None]) -> ValueError:
    """The ValueError a tiny builder raises for a variant it does not build: ``raise unknown_variant(FAMILY, variant, KNOWN)``.

    The message names the family, the variant asked for and the ones it
    builds (None being the ordinary checkpoint): "stable-diffusion has no
    tiny variant 'refiner'; choose None or 'inpainting-only'".
    """
    names = [repr(k) for k in known]
    if names == ["None"]:
        choose = "it builds only its ordinary checkpoint (variant None)"
    elif len(names) == 2:
        choose = f"choose {names[0]} or {names[1]}"
    else:
        choose = f"choose one of {', '.join(names)}"
    return ValueError(f"{family} has no tiny variant {variant!r}; {choose}")


def clip_text_encoder(
    vocab_size: int,
    hidden: int = HIDDEN,
    *,
    projection_dim: int | None = None,
    intermediate_size: int | None = None,
    layers: int = 2,
    heads: int = 4,
    hidden_act: str = "quick_gelu",
    bos_token_id: int = 0,
    eos_token_id: int = 1,
    pad_token_id: int = 1,
    **overrides: Any,
) -> Any:
    """A CLIP text encoder of width `hidden`: ``CLIPTextModel``, or ``CLIPTextModelWithProjection`` when `projection_dim` is given.

    `vocab_size` is the tokenizer's (``len(tokenizer)``); 77 positions;
    `layers` layers of `heads` heads; the MLP ``intermediate_size`` (default
    twice the width). The token ids default to those of
    :func:`~autopipe_core.toolkit.tokenizers.clip_characters` (start 0, end
    and padding 1). SDXL's second encoder: ``projection_dim=1280`` (its pooled
    width, which the UNet's addition embedding reads) and ``hidden_act="gelu"``.
    About 24,000 parameters at the defaults and the tiny vocabulary (138).
    """
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=intermediate_size or 2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        projection_dim=projection_dim or hidden,
        hidden_act=hidden_act,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        **overrides,
    )
    return (CLIPTextModel if projection_dim is None else CLIPTextModelWithProjection)(config)


def t5_encoder(vocab_size: int, hidden: int = HIDDEN, *, layers: int = 2, heads: int = 4, **overrides: Any) -> Any:
    """A T5 encoder (``T5EncoderModel``) of width `hidden`, gated-GELU as T5 v1.1 (IF, SD3, FLUX).

    `vocab_size` is the tokenizer's; key/value width 8 a head, MLP twice the
    width, 8 relative-position buckets up to distance 32, untied embeddings;
    padding 0, end 1 (:func:`~autopipe_core.toolkit.tokenizers.t5`'s ids).
    """
    from transformers import T5Config, T5EncoderModel

    settings = dict(
        vocab_size=vocab_size,
        d_model=hidden,
        d_kv=8,
        d_ff=2 * hidden,
        num_layers=layers,
        num_heads=heads,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        is_encoder_decoder=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5EncoderModel(T5Config(**{**settings, **overrides}))


def unet(
    in_channels: int = 4,
    cross_attention_dim: int = HIDDEN,
    *,
    addition_time_embed_dim: int | None = None,
    projection_class_embeddings_input_dim: int | None = None,
    **overrides: Any,
) -> Any:
    """An SD-style ``UNet2DConditionModel``: 4 latent channels out, blocks of 16 and 32 channels, one layer each, 8 groups, 4-wide heads.

    The first level plain (``DownBlock2D`` / ``UpBlock2D``), the second with
    cross-attention to states `cross_attention_dim` wide; ``sample_size`` 32,
    the latents :func:`vae` makes of a 64x64 image. `in_channels` 9 makes an inpainting UNet. SDXL's micro-conditioning: give
    `addition_time_embed_dim` (256 in SDXL) and
    `projection_class_embeddings_input_dim` (pooled text width + time ids x
    `addition_time_embed_dim`: 2816 for the base, 2560 for the refiner) and
    ``addition_embed_type`` becomes ``"text_time"``. `overrides` replace any
    of these (``time_cond_proj_dim`` for LCM, ``attention_head_dim``,
    ``transformer_layers_per_block``, another family's block types). About
    250,000 parameters at the defaults.
    """
    from diffusers import UNet2DConditionModel

    settings: dict[str, Any] = dict(
        sample_size=32,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=BLOCKS,
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=4,
    )
    if (addition_time_embed_dim is None) != (projection_class_embeddings_input_dim is None):
        raise ValueError("SDXL's addition embedding needs both addition_time_embed_dim and projection_class_embeddings_input_dim")
    if addition_time_embed_dim is not None:
        settings.update(
            addition_embed_type="text_time",
            addition_time_embed_dim=addition_time_embed_dim,
            projection_class_embeddings_input_dim=projection_class_embeddings_input_dim,
        )
    return UNet2DConditionModel(**{**settings, **overrides})


def vae(
    *,
    latent_channels: int = 4,
    scaling_factor: float | None = None,
    force_upcast: bool | None = None,
    latents_mean: Sequence[float] | None = None,
    latents_std: Sequence[float] | None = None,
    **overrides: Any,
) -> Any:
    """A tiny ``AutoencoderKL``: RGB in and out, blocks of 16 and 32 channels (one 2x downsampling), one layer each, 8 groups.

    A 64x64 image becomes 32x32 latents of `latent_channels`. `scaling_factor`
    (None: diffusers' default, SD's 0.18215; SDXL's is 0.13025) and
    `force_upcast` (None: diffusers' default, True, the VAE asks to run in
    float32; False says it is safe in float16) go into its config as the real
    ones have them; `latents_mean` and `latents_std` (one
    number a latent channel, ValueError otherwise) give it the latent
    normalisation Playground v2.5's VAE has. About 170,000 parameters.
    """
    from diffusers import AutoencoderKL

    stats: dict[str, Any] = {}
    for name, values in (("latents_mean", latents_mean), ("latents_std", latents_std)):
        if values is not None:
            if len(values) != latent_channels:
                raise ValueError(f"{name} has {len(values)} numbers; the VAE has {latent_channels} latent channels")
            stats[name] = [float(v) for v in values]
    settings: dict[str, Any] = dict(
        in_channels=3,
        out_channels=3,
        latent_channels=latent_channels,
        block_out_channels=BLOCKS,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
    )
    if scaling_factor is not None:
        settings["scaling_factor"] = scaling_factor
    if force_upcast is not None:
        settings["force_upcast"] = force_upcast
    return AutoencoderKL(**stats, **{**settings, **overrides})


#: The tiny VAE's levels where the pipeline assumes an 8x VAE (SD, SDXL, FLUX.1 and most DiT families' latents are 1/8 of
#: the picture's side): four levels of 8, 8, 16 and 16 channels, three 2x downsamplings. About 60,000 parameters.
EIGHT_X: Mapping[str, Any] = MappingProxyType(dict(
    block_out_channels=(8, 8, 16, 16),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
))


def vae_8x(**settings: Any) -> Any:
    """:func:`vae` with the four levels of :data:`EIGHT_X` (8x downsampling, as the real VAEs of SD, SDXL and FLUX.1):
    a 64x64 picture becomes 8x8 latents. `settings` go to :func:`vae` (latent channels, scaling factor, force_upcast, or
    any AutoencoderKL argument), and may replace :data:`EIGHT_X`'s own; the errors are :func:`vae`'s."""
    return vae(**{**EIGHT_X, **settings})


def qwen_image_vae(z_dim: int = 4, *, downsamples: int = 2, input_channels: int = 3) -> Any:
    """A tiny ``AutoencoderKLQwenImage`` (Qwen-Image's, Wan's layout, which Krea 2 and NucleusMoE share): 8, 16, 32 channels, one
    residual block a level, downsampling 2 ** `downsamples` times (2 to 4), `z_dim` latent channels normalised by a mean of 0
    and a deviation of 1 each, `input_channels` 3 (RGB) or 4 (RGBA, Qwen-Image-Layered's). About 110,000 parameters at
    the defaults. ValueError for `downsamples` outside 1 to 4 or `z_dim` below 1."""
    from diffusers import AutoencoderKLQwenImage

    if not 1 <= downsamples <= 4:
        raise ValueError(f"downsamples is how many 2x levels the tiny VAE has, 1 to 4; got {downsamples!r}")
    if z_dim < 1:
        raise ValueError(f"z_dim is the latent channels, 1 or more; got {z_dim!r}")
    return AutoencoderKLQwenImage(
        base_dim=8, z_dim=z_dim, dim_mult=[1, 2, 4, 4, 4][: downsamples + 1], num_res_blocks=1,
        temperal_downsample=[False] + [True] * (downsamples - 1), input_channels=input_channels,
        latents_mean=[0.0] * z_dim, latents_std=[1.0] * z_dim,
    )


def qwen3_encoder(tokenizer: Any, width: int = 16, *, positions: int = 1024, **overrides: Any) -> Any:
    """A tiny ``Qwen3Model`` in eval mode (Qwen3's layout at `width`: 2 layers, 2 query heads of 8 and one key/value head, a
    feed-forward 2 x `width`, tied embeddings), whose vocabulary is `tokenizer`'s length and whose begin, end and pad ids
    are the tokenizer's ``<|endoftext|>``, ``<|im_end|>`` and ``<|endoftext|>`` (a Qwen2 tokenizer's, as
    :func:`autopipe_core.toolkit.tokenizers.qwen2` builds). `positions`: max_position_embeddings. `overrides` go to
    ``Qwen3Config``. About 10,000 parameters at width 16 with a 261-entry tokenizer."""
    from transformers import Qwen3Config, Qwen3Model

    ids = tokenizer.convert_tokens_to_ids
    settings: dict[str, Any] = dict(
        hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        head_dim=8, vocab_size=len(tokenizer), max_position_embeddings=positions, tie_word_embeddings=True,
        bos_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>"),
    )
    return Qwen3Model(Qwen3Config(**{**settings, **overrides})).eval()


def unbuildable(build: Callable[[], Any], what: str, part: str = "it") -> str | None:
    """None when `build()` succeeds here; else why not, for a test's skip or a tiny pipeline built without the component.

    transformers 5's image and video processors (Qwen2-VL's, Qwen3-VL's,
    SigLIP 2's) need torchvision, which a CPU-only environment may lack: the
    sentence says "transformers cannot build a {what} here ({error type}:
    {its first line that says something, 160 characters at most}): with transformers 5 {part}
    needs torchvision, which this environment lacks". Whatever `build`
    raises is caught (an ``Exception``); a ``BaseException`` passes.
    """
    try:
        build()
    except Exception as error:  # noqa: BLE001 - whatever transformers raises is the reason
        first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")[:160]
        return f"transformers cannot build a {what} here ({type(error).__name__}: {first}): with transformers 5 {part} needs torchvision, which this environment lacks"
    return None


def cannot_build(family: str, missing: str) -> Exception:
    """The error a tiny builder raises where :func:`unbuildable` gave `missing`: ``raise cannot_build(FAMILY, missing)``.

    An UnsupportedModelError, which the core passes on unchanged (any other exception from a hook is reported as a
    bug in the plugin): "cannot build the tiny {family} checkpoint: {missing}. Install the torchvision release that
    matches your torch (from the same index as torch) to build it".
    """
    from ..errors import UnsupportedModelError

    return UnsupportedModelError(
        f"cannot build the tiny {family} checkpoint: {missing}. Install the torchvision release that matches your torch "
        "(from the same index as torch) to build it"
    )


def save(
    pipeline: Callable[[str, int], Any], family: str, path: str | Path, variant: str | None = None, seed: int = 0,
    known: Sequence[str | None] = (None,),
) -> Path:
    """The usual ``autopipe_build_tiny``: ``pipeline(family, seed).save_pretrained(path)``, after refusing a variant not in `known`.

    `pipeline` is the plugin's tiny pipeline builder, called with the family
    and the seed (it builds under :func:`seeded`); `known` the variants it
    builds (None: the ordinary checkpoint). A variant not in `known` is
    :func:`unknown_variant`'s ValueError, raised before anything is built or
    written; what `pipeline` raises (another family) passes unchanged.
    Returns `path` as a Path.
    """
    if variant not in known:
        raise unknown_variant(family, variant, known)
    pipeline(family, seed).save_pretrained(path)
    return Path(path)


#: Stable Diffusion's training noise schedule, which SD 1.x/2.x, SDXL, LCM and their kin share.
SD_SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "steps_offset": 1}


def scheduler(class_name: str = "PNDMScheduler", **overrides: Any) -> Any:
    """A diffusers scheduler of `class_name` (a class of ``diffusers``, or the class itself) on SD's noise schedule (:data:`SD_SCHEDULE`).

    `overrides` add or replace entries: SD's PNDM wants ``skip_prk_steps=True``,
    SDXL's Euler and LCM's ``timestep_spacing="leading"``. An unknown class name
    is a ValueError.
    """
    import diffusers

    cls = class_name if isinstance(class_name, type) else getattr(diffusers, class_name, None)
    if cls is None or not hasattr(cls, "from_config"):
        raise ValueError(f"diffusers has no scheduler class {class_name!r}")
    return cls(**{**SD_SCHEDULE, **overrides})
