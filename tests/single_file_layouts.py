"""The true tensor names and shapes of single-file checkpoints, for detection tests.

Every tensor comes from the configs the plugins ship, built on the meta device
(no memory, no weights) and renamed to the original layout by autopipe_sd.ldm
(whose mapping tests/test_single_file.py checks against diffusers' own
converter, and whose text encoder names a tiny SDXL file loaded through
diffusers checks end to end): CLIP ViT-L in transformers' names, OpenCLIP
ViT-H and ViT-bigG in OpenCLIP's.
"""

from __future__ import annotations

import functools
from pathlib import Path

from autopipe_core.headers import write_header

Layout = dict[str, tuple[str, tuple[int, ...]]]


def _configs(plugin: str) -> Path:
    import importlib

    return Path(importlib.import_module(plugin).__file__).parent / "configs"


@functools.lru_cache(maxsize=None)
def unet_vae(plugin: str, variant: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    from autopipe_sd.ldm import meta_layout

    return tuple(meta_layout(_configs(plugin) / variant).items())


@functools.lru_cache(maxsize=None)
def text_encoder(plugin: str, variant: str, component: str, prefix: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """A shipped text encoder config built on the meta device, in the names its single files use under `prefix`.

    ``...transformer.`` prefixes take transformers' names (CLIP ViT-L in SD 1.x
    and as SDXL's first encoder); ``...model.`` prefixes OpenCLIP's (SD 2.x's
    ViT-H, SDXL's ViT-bigG), through autopipe_sd.ldm.to_open_clip.
    """
    import json

    from accelerate import init_empty_weights
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from autopipe_sd.ldm import to_open_clip

    config = json.loads((_configs(plugin) / variant / component / "config.json").read_text())
    cls = CLIPTextModelWithProjection if config["architectures"] == ["CLIPTextModelWithProjection"] else CLIPTextModel
    with init_empty_weights():
        model = cls(CLIPTextConfig(**{k: v for k, v in config.items() if k != "architectures"}))
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    if prefix.endswith(".model."):
        names = to_open_clip(state, prefix)
    else:
        names = {prefix + ("" if k.startswith("text_model.") else "text_model.") + k: v for k, v in state.items()}
    return tuple((k, tuple(v.shape)) for k, v in names.items())


def layout(name: str) -> Layout:
    """The tensors of a full-size checkpoint of this variant, in the original single-file layout."""
    sd, xl = "autopipe_sd", "autopipe_sdxl"
    f16 = lambda pairs: {k: ("F16", shape) for k, shape in pairs}  # noqa: E731
    if name in ("sd1", "sd1-inpainting"):
        return {**f16(unet_vae(sd, name)), **f16(text_encoder(sd, name, "text_encoder", "cond_stage_model.transformer."))}
    if name in ("sd2-v", "sd2-inpainting"):
        return {**f16(unet_vae(sd, name)), **f16(text_encoder(sd, name, "text_encoder", "cond_stage_model.model."))}
    if name in ("xl-base", "xl-inpainting"):
        return {
            **f16(unet_vae(xl, name)),
            **f16(text_encoder(xl, name, "text_encoder", "conditioner.embedders.0.transformer.")),
            **f16(text_encoder(xl, name, "text_encoder_2", "conditioner.embedders.1.model.")),
        }
    if name == "xl-refiner":
        return {**f16(unet_vae(xl, name)), **f16(text_encoder(xl, name, "text_encoder_2", "conditioner.embedders.0.model."))}
    raise KeyError(name)


def controlnet_layout(name: str) -> Layout:
    """ControlNet files' identifying tensors with their true shapes (original layout for SD 1.x/2.x, diffusers' for SDXL)."""
    if name in ("controlnet-sd1", "controlnet-sd2"):
        width = 768 if name == "controlnet-sd1" else 1024
        return {
            "control_model.time_embed.0.weight": ("F16", (1280, 320)),
            "control_model.input_hint_block.0.weight": ("F16", (16, 3, 3, 3)),
            "control_model.input_blocks.0.0.weight": ("F16", (320, 4, 3, 3)),
            "control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", (320, width)),
            "control_model.zero_convs.0.0.weight": ("F16", (320, 320, 1, 1)),
            "control_model.middle_block_out.0.weight": ("F16", (1280, 1280, 1, 1)),
        }
    if name in ("controlnet-sdxl", "controlnet-sdxl-small"):
        out: Layout = {
            "controlnet_cond_embedding.conv_in.weight": ("F16", (16, 3, 3, 3)),
            "add_embedding.linear_1.weight": ("F16", (1280, 2816)),
            "conv_in.weight": ("F16", (320, 4, 3, 3)),
            "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight": ("F16", (640, 2048)),
        }
        for i in range(10 if name == "controlnet-sdxl" else 1):
            out[f"down_blocks.2.attentions.0.transformer_blocks.{i}.attn2.to_k.weight"] = ("F16", (1280, 2048))
        return out
    raise KeyError(name)


def write(path: Path, tensors: Layout, metadata: dict[str, str] | None = None) -> Path:
    return write_header(path, tensors, metadata)


def build_tiny_sdxl_file(path: Path, seed: int = 0) -> Path:
    """The tiny SDXL base as one .safetensors file in the original (SGM) layout, from the "xl-tiny" configs autopipe-sdxl ships.

    UNet and VAE renamed by autopipe_sd.ldm.to_ldm, the first text encoder
    under ``conditioner.embedders.0.transformer.`` (transformers' names) and
    the second, with its projection, in OpenCLIP's names under
    ``conditioner.embedders.1.model.``, as SDXL's own files have them.
    """
    import json

    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from autopipe_sd.ldm import to_ldm, to_open_clip

    folder = _configs("autopipe_sdxl") / "xl-tiny"
    read = lambda name: json.loads((folder / name / "config.json").read_text())  # noqa: E731
    torch.manual_seed(seed)
    uc, vc = read("unet"), read("vae")
    unet, vae = UNet2DConditionModel.from_config(uc), AutoencoderKL.from_config(vc)
    text = CLIPTextModel(CLIPTextConfig(**{k: v for k, v in read("text_encoder").items() if k != "architectures"}))
    text_2 = CLIPTextModelWithProjection(CLIPTextConfig(**{k: v for k, v in read("text_encoder_2").items() if k != "architectures"}))
    state = to_ldm(unet.state_dict(), uc, vae.state_dict(), vc)
    for key, value in text.state_dict().items():
        if not key.endswith("position_ids"):
            state["conditioner.embedders.0.transformer." + ("" if key.startswith("text_model.") else "text_model.") + key] = value
    state.update(to_open_clip(text_2.state_dict(), "conditioner.embedders.1.model."))
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def controlnet_to_original(state: dict, config: dict, prefix: str = "control_model.") -> dict:
    """A diffusers ControlNetModel state dict in lllyasviel's original names (the inverse of diffusers' convert_controlnet_checkpoint).

    The UNet-like part is named as the UNet's (autopipe_sd.ldm.unet_key); the
    rest: ``controlnet_cond_embedding.conv_in`` / ``blocks.i`` / ``conv_out`` ->
    ``input_hint_block.0`` / ``.{2(i+1)}`` / ``.14``, ``controlnet_down_blocks.i`` ->
    ``zero_convs.i.0``, ``controlnet_mid_block`` -> ``middle_block_out.0``.
    """
    import re

    from autopipe_sd.ldm import UNET, unet_key

    out = {}
    for key, value in state.items():
        if key.startswith("controlnet_cond_embedding."):
            rest = key.removeprefix("controlnet_cond_embedding.")
            if rest.startswith("conv_in."):
                name = "input_hint_block.0." + rest.removeprefix("conv_in.")
            elif rest.startswith("conv_out."):
                name = "input_hint_block.14." + rest.removeprefix("conv_out.")
            else:
                m = re.match(r"blocks\.(\d+)\.(.*)", rest)
                name = f"input_hint_block.{2 * (int(m[1]) + 1)}.{m[2]}"
        elif m := re.match(r"controlnet_down_blocks\.(\d+)\.(.*)", key):
            name = f"zero_convs.{m[1]}.0.{m[2]}"
        elif key.startswith("controlnet_mid_block."):
            name = "middle_block_out.0." + key.removeprefix("controlnet_mid_block.")
        else:
            name = unet_key(key, config["layers_per_block"], []).removeprefix(UNET)
        out[prefix + name] = value
    return out
