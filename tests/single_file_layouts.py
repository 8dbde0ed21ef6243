"""The true tensor names and shapes of single-file checkpoints, for detection tests.

The UNet and VAE tensors come from the configs the plugins ship, built on the
meta device (no memory, no weights) and renamed to the original layout by
autopipe_sd.ldm (whose mapping tests/test_single_file.py checks against
diffusers' own converter). The text encoders' identifying tensors are written
out by hand with their published shapes: CLIP ViT-L (768 wide, 12 layers),
OpenCLIP ViT-H (1024, 23 layers in SD 2) and ViT-bigG (1280, 32 layers).
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


def clip_l(prefix: str) -> Layout:
    """CLIP ViT-L/14's text tower in transformers' names (SD 1.x, SDXL's first encoder)."""
    out: Layout = {
        prefix + "text_model.embeddings.token_embedding.weight": ("F16", (49408, 768)),
        prefix + "text_model.embeddings.position_embedding.weight": ("F16", (77, 768)),
        prefix + "text_model.final_layer_norm.weight": ("F16", (768,)),
    }
    for i in range(12):
        out[prefix + f"text_model.encoder.layers.{i}.self_attn.k_proj.weight"] = ("F16", (768, 768))
        out[prefix + f"text_model.encoder.layers.{i}.mlp.fc1.weight"] = ("F16", (3072, 768))
    return out


def open_clip(prefix: str, width: int, layers: int, projection: int | None) -> Layout:
    """An OpenCLIP text tower in its own names (SD 2.x's ViT-H, SDXL's ViT-bigG)."""
    out: Layout = {
        prefix + "token_embedding.weight": ("F16", (49408, width)),
        prefix + "positional_embedding": ("F16", (77, width)),
        prefix + "ln_final.weight": ("F16", (width,)),
    }
    if projection:
        out[prefix + "text_projection"] = ("F16", (width, projection))
    for i in range(layers):
        out[prefix + f"transformer.resblocks.{i}.attn.in_proj_weight"] = ("F16", (3 * width, width))
        out[prefix + f"transformer.resblocks.{i}.mlp.c_proj.bias"] = ("F16", (width,))
    return out


def layout(name: str) -> Layout:
    """The tensors of a full-size checkpoint of this variant, in the original single-file layout."""
    sd, xl = "autopipe_sd", "autopipe_sdxl"
    if name in ("sd1", "sd1-inpainting"):
        return {**dict((k, ("F16", s)) for k, s in unet_vae(sd, name)), **clip_l("cond_stage_model.transformer.")}
    if name in ("sd2-v", "sd2-inpainting"):
        return {**dict((k, ("F16", s)) for k, s in unet_vae(sd, name)), **open_clip("cond_stage_model.model.", 1024, 23, None)}
    if name in ("xl-base", "xl-inpainting"):
        return {
            **dict((k, ("F16", s)) for k, s in unet_vae(xl, name)),
            **clip_l("conditioner.embedders.0.transformer."),
            **open_clip("conditioner.embedders.1.model.", 1280, 32, 1280),
        }
    if name == "xl-refiner":
        return {**dict((k, ("F16", s)) for k, s in unet_vae(xl, name)), **open_clip("conditioner.embedders.0.model.", 1280, 32, 1280)}
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
