"""diffusers state dicts -> the original single-file (LDM / SGM) layout: the inverse of diffusers' single-file conversion.

Used to write single-file checkpoints for tests (the tiny SD checkpoint as one
.safetensors file, and the true tensor names and shapes of full-size
checkpoints from their configs on the meta device), never to load anything.
The mapping is the one diffusers' ``single_file_utils`` reads, inverted:

UNet (``model.diffusion_model.``), with ``n = layers_per_block``:

- ``conv_in`` -> ``input_blocks.0.0``; ``time_embedding.linear_1/2`` -> ``time_embed.0/2``;
  ``add_embedding.linear_1/2`` (SDXL) -> ``label_emb.0.0/0.2``
- ``down_blocks.i.resnets.j`` / ``.attentions.j`` -> ``input_blocks.{1 + i(n+1) + j}.0`` / ``.1``;
  ``down_blocks.i.downsamplers.0.conv`` -> ``input_blocks.{(i+1)(n+1)}.0.op``
- ``mid_block.resnets.0``, ``attentions.0``, ``resnets.1`` -> ``middle_block.0``, ``.1``, ``.2``
- ``up_blocks.i.resnets.j`` / ``.attentions.j`` -> ``output_blocks.{i(n+1) + j}.0`` / ``.1`` (j up to n);
  ``up_blocks.i.upsamplers.0`` -> the last output block of level i, after its resnet (and attention)
- ``conv_norm_out`` / ``conv_out`` -> ``out.0`` / ``out.2``
- in a resnet: ``norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut`` ->
  ``in_layers.0, in_layers.2, emb_layers.1, out_layers.0, out_layers.3, skip_connection``

VAE (``first_stage_model.``): ``down_blocks.i`` -> ``down.i`` (``resnets`` -> ``block``,
``downsamplers.0`` -> ``downsample``), ``up_blocks.i`` -> ``up.{L-1-i}`` (reversed,
``upsamplers.0`` -> ``upsample``), ``mid_block.resnets.0/1`` -> ``mid.block_1/2``,
``mid_block.attentions.0`` -> ``mid.attn_1`` (``group_norm, to_q, to_k, to_v, to_out.0`` ->
``norm, q, k, v, proj_out``, the projections as 1x1 convolutions), ``conv_norm_out`` ->
``norm_out``, ``conv_shortcut`` -> ``nin_shortcut``.

CLIP text encoder (SD 1.x): the transformers names under ``cond_stage_model.transformer.``.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from autopipe_core.toolkit.single_file import LDM_TEXT, LDM_UNET, LDM_VAE, read_config

UNET = LDM_UNET
VAE = LDM_VAE
TEXT = LDM_TEXT + "transformer."

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _resnet(rest: str) -> str:
    for old, new in _RESNET.items():
        if rest.startswith(old + "."):
            return new + rest[len(old):]
    raise KeyError(rest)


def unet_key(key: str, layers_per_block: int, up_has_attention: list[bool]) -> str:
    """The LDM name of one diffusers UNet tensor."""
    n = layers_per_block
    fixed = {
        "conv_in.": "input_blocks.0.0.", "time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
        "add_embedding.linear_1.": "label_emb.0.0.", "add_embedding.linear_2.": "label_emb.0.2.",
        "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
    }
    for old, new in fixed.items():
        if key.startswith(old):
            return UNET + new + key[len(old):]
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        block = 1 + i * (n + 1) + j
        return UNET + (f"input_blocks.{block}.0.{_resnet(rest)}" if kind == "resnets" else f"input_blocks.{block}.1.{rest}")
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return UNET + f"input_blocks.{(int(m[1]) + 1) * (n + 1)}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)", key):
        kind, j, rest = m[1], int(m[2]), m[3]
        return UNET + (f"middle_block.{2 * j}.{_resnet(rest)}" if kind == "resnets" else f"middle_block.1.{rest}")
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        block = i * (n + 1) + j
        return UNET + (f"output_blocks.{block}.0.{_resnet(rest)}" if kind == "resnets" else f"output_blocks.{block}.1.{rest}")
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.(.*)", key):
        i = int(m[1])
        return UNET + f"output_blocks.{i * (n + 1) + n}.{2 if up_has_attention[i] else 1}.{m[2]}"
    raise KeyError(f"no LDM name for UNet tensor {key}")


def vae_key(key: str, levels: int) -> str:
    """The LDM name of one diffusers VAE tensor."""
    key = key.replace("conv_shortcut", "nin_shortcut")
    for old, new in _VAE_ATTN.items():
        key = key.replace(f"mid_block.attentions.0.{old}.", f"mid.attn_1.{new}.")
    key = re.sub(r"mid_block\.resnets\.(\d)\.", lambda m: f"mid.block_{int(m[1]) + 1}.", key)
    key = re.sub(r"encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block.", key)
    key = re.sub(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", key)
    key = re.sub(r"decoder\.up_blocks\.(\d+)\.resnets\.", lambda m: f"decoder.up.{levels - 1 - int(m[1])}.block.", key)
    key = re.sub(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.", lambda m: f"decoder.up.{levels - 1 - int(m[1])}.upsample.", key)
    key = key.replace("conv_norm_out", "norm_out")
    return VAE + key


def to_ldm(unet: Mapping[str, Any], unet_config: Mapping[str, Any], vae: Mapping[str, Any], vae_config: Mapping[str, Any], text: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One original-layout state dict from diffusers' UNet, VAE and (SD 1.x CLIP) text encoder state dicts.

    Works on real tensors and on meta tensors alike (only reshapes the VAE's
    attention projections into the 1x1 convolutions the original used).
    """
    out: dict[str, Any] = {}
    up_attention = ["CrossAttn" in t for t in unet_config["up_block_types"]]
    for key, value in unet.items():
        out[unet_key(key, unet_config["layers_per_block"], up_attention)] = value
    levels = len(vae_config["block_out_channels"])
    for key, value in vae.items():
        name = vae_key(key, levels)
        if ".mid.attn_1." in name and name.endswith(".weight") and getattr(value, "ndim", 0) == 2:
            value = value.reshape(*value.shape, 1, 1)
        out[name] = value
    for key, value in (text or {}).items():
        if not key.endswith("position_ids"):  # transformers 5 leaves out the "text_model." the original names carry
            out[TEXT + ("" if key.startswith("text_model.") else "text_model.") + key] = value
    return out


def meta_layout(config_folder: Any) -> dict[str, tuple[int, ...]]:
    """The original-layout names and shapes of the UNet and VAE a diffusers config folder describes, built on the meta device.

    No memory and no weights: the true tensor names and shapes of a
    full-size checkpoint, for detection tests and benchmarks.
    """
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel

    unet_config, vae_config = read_config(config_folder, "unet"), read_config(config_folder, "vae")
    with init_empty_weights():
        unet, vae = UNet2DConditionModel.from_config(unet_config), AutoencoderKL.from_config(vae_config)
    ldm = to_ldm(unet.state_dict(), unet_config, vae.state_dict(), vae_config)
    return {name: tuple(value.shape) for name, value in ldm.items()}


_OPEN_CLIP = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj", "self_attn.out_proj": "attn.out_proj"}


def to_open_clip(text: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """A transformers CLIP text model's state dict in OpenCLIP's names (SD 2's ``cond_stage_model.model.``, SDXL's ``conditioner.embedders.1.model.``).

    The query, key and value projections are joined into ``attn.in_proj_weight``
    / ``in_proj_bias`` (query first), and ``text_projection`` is stored as
    OpenCLIP keeps it, (width, projection): the transpose of transformers' Linear.
    """
    import torch

    out: dict[str, Any] = {}
    qkv: dict[str, dict[str, Any]] = {}
    for key, value in text.items():
        key = key.removeprefix("text_model.")
        if key.endswith("position_ids"):
            continue
        if key == "embeddings.position_embedding.weight":
            out[prefix + "positional_embedding"] = value
        elif key == "embeddings.token_embedding.weight":
            out[prefix + "token_embedding.weight"] = value
        elif key.startswith("final_layer_norm."):
            out[prefix + "ln_final." + key.rpartition(".")[2]] = value
        elif key == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()
        elif m := re.match(r"encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)", key):
            qkv.setdefault(f"{m[1]}.{m[3]}", {})[m[2]] = value
        elif m := re.match(r"encoder\.layers\.(\d+)\.(.*)", key):
            rest = m[2]
            for old, new in _OPEN_CLIP.items():
                if rest.startswith(old + "."):
                    rest = new + rest[len(old):]
                    break
            out[prefix + f"transformer.resblocks.{m[1]}.{rest}"] = value
        else:
            raise KeyError(f"no OpenCLIP name for {key}")
    for where, parts in qkv.items():
        layer, kind = where.split(".")
        out[prefix + f"transformer.resblocks.{layer}.attn.in_proj_{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out
