"""Tensor names and prefixes of the original single-file layouts, shared by the core's helpers and every family plugin.

Plain strings, in a module that imports nothing: a plugin's package ``__init__``
builds its ``autopipe_detect_keys`` from them at registration without importing
:mod:`autopipe_core.toolkit.single_file` (which brings the sources, prediction
and loading helpers). :mod:`autopipe_core.toolkit.single_file` exports the same
names, as it always has.
"""

from __future__ import annotations

__all__ = ["COMFY_PREFIX", "LDM_CONV_IN", "LDM_LABEL_EMB", "LDM_TEXT", "LDM_UNET", "LDM_VAE"]

#: The original (LDM / SGM) layout's prefixes: the UNet, the VAE, SD 1.x/2.x's text encoder.
LDM_UNET = "model.diffusion_model."
LDM_VAE = "first_stage_model."
LDM_TEXT = "cond_stage_model."
#: Where ComfyUI puts a diffusion model's tensors in a checkpoint it saves (and where fal, Comfy-Org and others ship
#: all-in-one files): the same names as the bare transformer file, behind this prefix.
COMFY_PREFIX = "model.diffusion_model."
#: The UNet's first convolution, (model channels, input channels, 3, 3): 4 input channels, or 9 for inpainting.
LDM_CONV_IN = LDM_UNET + "input_blocks.0.0.weight"
#: SDXL's micro-conditioning embedding, (time embedding width, pooled text + time ids x 256).
LDM_LABEL_EMB = LDM_UNET + "label_emb.0.0.weight"
