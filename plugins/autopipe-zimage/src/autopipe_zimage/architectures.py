"""The published architectures of Z-Image-Turbo and its ControlNets, and what is built from them.

The numbers, and where they come from:

- the transformer (Tongyi-MAI/Z-Image-Turbo, transformer/config.json; the
  Z-Image report, arXiv 2511.22699: a 6 B single-stream DiT): 30 layers 3,840
  wide (30 heads of 128, rope axes 32, 48, 48 over 1,024, 512, 512
  positions), 2 noise- and 2 context-refiner layers, 2 x 2 patches of 16
  latent channels, captions 2,560 wide. These are ZImageTransformer2DModel's
  defaults, which diffusers wrote for that checkpoint; built, it has
  6,154,908,736 parameters, and 4 bytes each are the 24.6 GB of float32
  shards the repository ships (its three transformer files);
- the text encoder: Qwen3-4B's (Qwen/Qwen3-4B config.json: 36 layers 2,560
  wide, 32 query and 8 key/value heads of 128, SwiGLU 9,728, a vocabulary of
  151,936, rope theta 1,000,000, tied embeddings) as a ``Qwen3Model`` (no
  head): 4,022,468,096 parameters, Qwen's "4.0 B";
- the VAE: FLUX.1's AutoencoderKL (16 latent channels, 128 to 512 channels,
  scaling 0.3611, shift 0.1159, no quant convolutions): 83,819,683 parameters,
  the 168 MB of bfloat16 Tongyi-MAI ships;
- the scheduler: FlowMatchEulerDiscreteScheduler with a shift of 3 and no
  dynamic shifting (Z-Image-Turbo's scheduler_config.json);
- the Union ControlNets of alibaba-pai, as diffusers' default configs for
  them (hlky/Z-Image-Turbo-Fun-Controlnet-Union, -2.0, -2.1, which
  ``from_single_file`` would fetch; VideoX-Fun's z_image_control yaml files):
  the first puts 6 control blocks at layers 0, 5, ..., 25 over 16 control
  channels, refined by two plain Z-Image blocks; 2.0 and 2.1 put 15 at
  layers 0, 2, ..., 28 over 33 channels (control latents, mask, masked
  image) and feed the two noise-refiner layers too: 2.0 from its control
  blocks ("control_layers"), 2.1 from two control blocks of its own
  ("control_noise_refiner"). Built: 1,550,778,368, 2,950,156,800 and
  3,356,225,792 parameters (no published count was at hand to check them).

From them, with diffusers' and transformers' own classes: :func:`write_config_folder`
writes the folders this plugin ships for single files, :func:`meta_models`
builds the components on the meta device, :func:`write_fullsize` a diffusers
folder of header-only files with the true shapes for planning.

Importing this module imports nothing heavy; each function imports torch,
diffusers or transformers when called. ``python -m autopipe_zimage.architectures``
rewrites the shipped config folders.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from autopipe_core.toolkit import fullsize
from autopipe_core.toolkit.fullsize import STEMS, dump_json, save_config, state_shapes

#: Z-Image-Turbo's transformer (ZImageTransformer2DModel's defaults, as diffusers wrote them for it).
TRANSFORMER: Mapping[str, Any] = MappingProxyType(dict(
    all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=3840, n_layers=30, n_refiner_layers=2, n_heads=30,
    n_kv_heads=30, norm_eps=1e-5, qk_norm=True, cap_feat_dim=2560, rope_theta=256.0, t_scale=1000.0,
    axes_dims=(32, 48, 48), axes_lens=(1024, 512, 512),
))
#: Qwen3-4B as Z-Image's text encoder (a Qwen3Model).
QWEN3_4B: Mapping[str, Any] = MappingProxyType(dict(
    vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
    num_key_value_heads=8, head_dim=128, hidden_act="silu", max_position_embeddings=40960, rms_norm_eps=1e-6,
    rope_theta=1_000_000.0, tie_word_embeddings=True, attention_bias=False, bos_token_id=151643, eos_token_id=151645,
))
#: FLUX.1's VAE, Z-Image's.
VAE: Mapping[str, Any] = MappingProxyType(dict(
    in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2,
    norm_num_groups=32, act_fn="silu", sample_size=1024, scaling_factor=0.3611, shift_factor=0.1159,
    use_quant_conv=False, use_post_quant_conv=False, force_upcast=True, mid_block_add_attention=True,
))
#: Z-Image-Turbo's scheduler.
SCHEDULER: Mapping[str, Any] = MappingProxyType(dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False))

_CONTROL = dict(all_patch_size=(2,), all_f_patch_size=(1,), dim=3840, n_refiner_layers=2, n_heads=30, n_kv_heads=30, norm_eps=1e-5, qk_norm=True)
#: The Union ControlNets, by the model type diffusers' infer_diffusers_model_type gives their files.
CONTROLNETS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "z-image-turbo-controlnet": MappingProxyType(dict(
        _CONTROL, control_layers_places=(0, 5, 10, 15, 20, 25), control_refiner_layers_places=None, control_in_dim=16,
        add_control_noise_refiner=None,
    )),
    "z-image-turbo-controlnet-2.0": MappingProxyType(dict(
        _CONTROL, control_layers_places=tuple(range(0, 30, 2)), control_refiner_layers_places=(0, 1), control_in_dim=33,
        add_control_noise_refiner="control_layers",
    )),
    "z-image-turbo-controlnet-2.1": MappingProxyType(dict(
        _CONTROL, control_layers_places=tuple(range(0, 30, 2)), control_refiner_layers_places=(0, 1), control_in_dim=33,
        add_control_noise_refiner="control_noise_refiner",
    )),
})

#: Parameter counts the built models must have (the module docstring says which are published and which computed).
PARAMETERS: Mapping[str, int] = MappingProxyType({
    "transformer": 6_154_908_736,
    "text_encoder": 4_022_468_096,
    "vae": 83_819_683,
    "z-image-turbo-controlnet": 1_550_778_368,
    "z-image-turbo-controlnet-2.0": 2_950_156_800,
    "z-image-turbo-controlnet-2.1": 3_356_225_792,
})

#: Each component's class, as Tongyi-MAI/Z-Image-Turbo's model_index.json names it.
COMPONENTS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "scheduler": ("diffusers", "FlowMatchEulerDiscreteScheduler"),
    "text_encoder": ("transformers", "Qwen3Model"),
    "tokenizer": ("transformers", "Qwen2Tokenizer"),
    "transformer": ("diffusers", "ZImageTransformer2DModel"),
    "vae": ("diffusers", "AutoencoderKL"),
})

#: The pipeline folder shipped for single files (Z-Image-Turbo's), and the tiny test layout's.
PIPELINE_FOLDERS = ("z-image-turbo", "tiny")
#: The ControlNet folders shipped: the three Union ControlNets, and the tiny ones of autopipe_zimage.tiny.controlnet.
TINY_CONTROLNETS: Mapping[str, tuple[int, str | None]] = MappingProxyType({
    "tiny-controlnet": (16, None), "tiny-controlnet-2.0": (33, "control_layers"), "tiny-controlnet-2.1": (33, "control_noise_refiner"),
})


def build(component: str, settings: Mapping[str, Any]) -> Any:
    """The component `component` names, from its constructor's `settings` (call under a device context for meta).

    "transformer", "text_encoder", "vae" or "controlnet"; KeyError for another name.
    """
    import diffusers

    if component == "transformer":
        return diffusers.ZImageTransformer2DModel(**_lists(settings))
    if component == "vae":
        return diffusers.AutoencoderKL(**settings)
    if component == "controlnet":
        return diffusers.ZImageControlNetModel(**_lists(settings))
    if component == "text_encoder":
        from transformers import Qwen3Config, Qwen3Model

        return Qwen3Model(Qwen3Config(**settings))
    raise KeyError(f"autopipe-zimage builds no component {component!r}")


def _lists(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Tuples as lists, as the configs diffusers saves have them (a round trip through JSON gives lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}


def meta_models() -> dict[str, Any]:
    """component -> Z-Image-Turbo's model built on torch's meta device (shapes, no memory)."""
    return fullsize.meta_models(build, {"transformer": TRANSFORMER, "text_encoder": QWEN3_4B, "vae": VAE})


def meta_controlnet(kind: str) -> Any:
    """The Union ControlNet `kind` (a key of :data:`CONTROLNETS`) on the meta device."""
    import torch

    with torch.device("meta"):
        return build("controlnet", CONTROLNETS[kind])


def model_index() -> dict[str, Any]:
    """Z-Image-Turbo's model_index.json: ZImagePipeline and its five components."""
    return {"_class_name": "ZImagePipeline", "_diffusers_version": "0.42.1", **{name: list(ref) for name, ref in COMPONENTS.items()}}


def write_scheduler(folder: Path, settings: Mapping[str, Any] = SCHEDULER) -> None:
    """The FlowMatchEulerDiscreteScheduler's config of `settings` (Z-Image-Turbo's by default), in ``folder/scheduler``."""
    fullsize.write_scheduler(folder, "FlowMatchEulerDiscreteScheduler", settings)


def write_config_folder(folder: str | Path, name: str) -> Path:
    """Write one shipped config folder, replacing what is there; returns it.

    "z-image-turbo": model_index.json, transformer/config.json and the
    scheduler's, what a transformer-only single file loads with offline (the
    text encoder, tokenizer and VAE come from the base checkpoint; see
    :mod:`autopipe_zimage.single_file`). "tiny": the same for
    :mod:`autopipe_zimage.tiny`'s transformer. A key of :data:`CONTROLNETS` or
    :data:`TINY_CONTROLNETS`: that ControlNet's config.json alone.
    """
    import torch

    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    if name in CONTROLNETS:
        save_config(meta_controlnet(name), folder)
        return folder
    if name in TINY_CONTROLNETS:
        from . import tiny

        with torch.device("meta"):
            model = tiny.controlnet(dict(tiny.transformer().config), *TINY_CONTROLNETS[name])
        save_config(model, folder)
        return folder
    if name not in PIPELINE_FOLDERS:
        raise KeyError(f"autopipe-zimage ships no config folder {name!r}")
    with torch.device("meta"):
        if name == "tiny":
            from . import tiny

            transformer, scheduler = tiny.transformer(), tiny.SCHEDULER
        else:
            transformer, scheduler = build("transformer", TRANSFORMER), SCHEDULER
    save_config(transformer, folder / "transformer")
    write_scheduler(folder, scheduler)
    dump_json(folder / "model_index.json", model_index())
    return folder


def shipped_names() -> tuple[str, ...]:
    """Every config folder this plugin ships, by name."""
    return (*PIPELINE_FOLDERS, *CONTROLNETS, *TINY_CONTROLNETS)


#: How Tongyi-MAI/Z-Image-Turbo stores each component: dtype of its files, and how many shards.
STORED: Mapping[str, tuple[str, int]] = MappingProxyType({"transformer": ("F32", 3), "text_encoder": ("BF16", 3), "vae": ("BF16", 1)})


def write_fullsize(folder: str | Path) -> Path:
    """A diffusers folder of Z-Image-Turbo whose weight files are header-only sparse safetensors with the true shapes.

    Each model's tensors are its save's (:func:`state_shapes` on the meta
    device), in the dtype and shards Tongyi-MAI's repository has
    (:data:`STORED`: the transformer in float32), with the index diffusers
    and transformers read; the configs are their classes' saves, and the
    tokenizer folder holds a tokenizer_config.json only. A few kilobytes on
    disk; the planner reads it as it reads the real checkpoint.
    """
    folder = Path(folder)
    write_config_folder(folder, "z-image-turbo")
    dump_json(folder / "tokenizer" / "tokenizer_config.json", {"tokenizer_class": "Qwen2Tokenizer", "model_max_length": 131072})
    for name, model in meta_models().items():
        if name != "transformer":
            save_config(model, folder / name)
        dtype, shards = STORED[name]
        fullsize.write_weights(folder / name, STEMS[COMPONENTS[name][0]], state_shapes(model), dtype, shards)
    return folder


if __name__ == "__main__":
    root = Path(__file__).parent / "configs"
    for shipped in shipped_names():
        print(write_config_folder(root / shipped, shipped))
