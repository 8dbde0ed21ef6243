"""Tensor names of Sana's and PixArt's original checkpoints (NVlabs/Sana, PixArt-alpha/PixArt-sigma), and the way back to them.

The original layout is what a ``.pth`` or ``.safetensors`` file from the
authors' repositories holds: ``x_embedder``, ``t_embedder``, ``y_embedder``,
``blocks.N.attn.qkv``, ``blocks.N.cross_attn.q_linear`` and
``kv_linear``, ``final_layer``. diffusers converts a Sana transformer from it
(``diffusers.loaders.single_file_utils.convert_sana_transformer_to_diffusers``);
:func:`sana_original` is that conversion run backwards, so that a diffusers
SanaTransformer2DModel can be written as the authors' files are: the tiny
test file, and files of Sana 1.5 and Sana Sprint, whose query/key norms and
guidance embedder the original layout names too (``q_norm``, ``k_norm``,
``cfg_embedder``). Names only: nothing here imports torch but
:func:`sana_original`, which takes and gives tensors.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from typing import Any, Mapping

from autopipe_core.toolkit.single_file import block_count

# diffusers' "sana" key and ComfyUI's prefix: the package's, which registers them as autopipe_detect_keys.
from . import COMFY_PREFIX, CROSS_ATTN_KEY

#: The patch embedding, (width, latent channels, patch, patch): Sana (2240 or 1152, 32, 1, 1), PixArt (1152, 4, 2, 2).
PATCH_KEY = "x_embedder.proj.weight"
#: Sana's feed-forward is a GLUMBConv (``mlp.inverted_conv``); PixArt's an MLP (``mlp.fc1``).
SANA_MLP_KEY = "blocks.0.mlp.inverted_conv.conv.weight"
PIXART_MLP_KEY = "blocks.0.mlp.fc1.weight"
#: Sana's positional-embedding buffer, (1, latent tokens, width): the one tensor that says the trained resolution.
POS_EMBED_KEY = "pos_embed"
#: Sana 1.5 and Sana Sprint normalise queries and keys; Sprint embeds the guidance scale.
QK_NORM_KEY = "blocks.0.attn.q_norm.weight"
GUIDANCE_KEY = "cfg_embedder.mlp.0.weight"
#: PixArt-α's 1024 px transformer embeds the image's size and aspect ratio (its micro-conditions).
PIXART_SIZE_KEY = "csize_embedder.mlp.0.weight"
#: Caption tokens Sana was trained on: the null caption embedding ``y_embedder.y_embedding`` has this many rows.
SANA_CAPTION_TOKENS = 300

# (original, diffusers) name pairs outside the blocks, for the plain Sana transformer.
_SANA_TOP = (
    ("x_embedder.proj", "patch_embed.proj"),
    ("t_block.1", "time_embed.linear"),
    ("y_embedder.y_proj.fc1", "caption_projection.linear_1"),
    ("y_embedder.y_proj.fc2", "caption_projection.linear_2"),
    ("attention_y_norm", "caption_norm"),
    ("final_layer.linear", "proj_out"),
)
_SANA_TIME = (("t_embedder.mlp.0", "time_embed.emb.timestep_embedder.linear_1"), ("t_embedder.mlp.2", "time_embed.emb.timestep_embedder.linear_2"))
_SPRINT_TIME = (
    ("t_embedder.mlp.0", "time_embed.timestep_embedder.linear_1"),
    ("t_embedder.mlp.2", "time_embed.timestep_embedder.linear_2"),
    ("cfg_embedder.mlp.0", "time_embed.guidance_embedder.linear_1"),
    ("cfg_embedder.mlp.2", "time_embed.guidance_embedder.linear_2"),
)
# Per block, with "{i}": names that map one to one.
_SANA_BLOCK = (
    ("attn.proj", "attn1.to_out.0"),
    ("attn.q_norm", "attn1.norm_q"),
    ("attn.k_norm", "attn1.norm_k"),
    ("cross_attn.q_linear", "attn2.to_q"),
    ("cross_attn.proj", "attn2.to_out.0"),
    ("cross_attn.q_norm", "attn2.norm_q"),
    ("cross_attn.k_norm", "attn2.norm_k"),
    ("mlp.inverted_conv.conv", "ff.conv_inverted"),
    ("mlp.depth_conv.conv", "ff.conv_depth"),
    ("mlp.point_conv.conv", "ff.conv_point"),
)


def strip_prefix(names: Any) -> str:
    """The prefix the transformer's names carry in a file: "" or :data:`COMFY_PREFIX` (when its cross-attention key has it)."""
    return COMFY_PREFIX if COMFY_PREFIX + CROSS_ATTN_KEY in names else ""


def sana_original(state_dict: Mapping[str, Any], sample_size: int, caption_channels: int) -> dict[str, Any]:
    """A diffusers SanaTransformer2DModel's state dict in the original Sana layout: diffusers' conversion, backwards.

    `sample_size` (latent pixels per side) sizes the ``pos_embed`` buffer the
    original files carry, (1, sample_size**2, width), zeros as the authors'
    no-positional-embedding models store it; `caption_channels` sizes the null
    caption ``y_embedder.y_embedding``, (300, caption_channels). Self-attention's
    q, k, v are joined into ``attn.qkv``, cross-attention's k, v into
    ``cross_attn.kv_linear``. A Sprint transformer's timestep and guidance
    embedders go to ``t_embedder`` and ``cfg_embedder``; Sana 1.5's and
    Sprint's query/key norms to ``q_norm``, ``k_norm``. KeyError for a state
    dict that is not a Sana transformer's.
    """
    import torch

    sd = dict(state_dict)
    out: dict[str, Any] = {}
    patch = sd["patch_embed.proj.weight"]
    like = {"dtype": patch.dtype, "device": patch.device}  # meta tensors in, meta tensors out: a full-size layout costs nothing
    out[POS_EMBED_KEY] = torch.zeros(1, sample_size * sample_size, patch.shape[0], **like)
    out["y_embedder.y_embedding"] = torch.zeros(SANA_CAPTION_TOKENS, caption_channels, **like)
    sprint = "time_embed.guidance_embedder.linear_1.weight" in sd
    for original, ours in (*_SANA_TOP, *(_SPRINT_TIME if sprint else _SANA_TIME)):
        for suffix in (".weight", ".bias"):
            if ours + suffix in sd:
                out[original + suffix] = sd.pop(ours + suffix)
    out["final_layer.scale_shift_table"] = sd.pop("scale_shift_table")
    for i in range(block_count(sd, "transformer_blocks.")):
        ours, theirs = f"transformer_blocks.{i}.", f"blocks.{i}."
        out[theirs + "scale_shift_table"] = sd.pop(ours + "scale_shift_table")
        out[theirs + "attn.qkv.weight"] = torch.cat([sd.pop(ours + f"attn1.to_{x}.weight") for x in "qkv"])
        for suffix in (".weight", ".bias"):
            kv = [sd.pop(ours + f"attn2.to_{x}{suffix}") for x in "kv" if ours + f"attn2.to_{x}{suffix}" in sd]
            if kv:
                out[theirs + "cross_attn.kv_linear" + suffix] = torch.cat(kv)
        for original, diffusers_name in _SANA_BLOCK:
            for suffix in (".weight", ".bias"):
                if ours + diffusers_name + suffix in sd:
                    out[theirs + original + suffix] = sd.pop(ours + diffusers_name + suffix)
    if sd:
        raise KeyError(f"not a Sana transformer's tensors, or a layout this conversion does not know: {sorted(sd)[:5]}")
    return out
