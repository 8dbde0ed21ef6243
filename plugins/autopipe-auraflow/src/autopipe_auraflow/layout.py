"""AuraFlow's original tensor layout: the names the single-file code reads, and the tiny file's writer.

AuraFlow's own transformer files (the authors' training code, city96's GGUF
conversions, the ``model.diffusion_model.`` part of fal's ComfyUI checkpoints
``aura_flow_0.x.safetensors``) name the MMDiT's modules as the authors' code
does: ``double_layers.N`` (joint blocks: ``attn.w2q`` for the image's
queries, ``attn.w1q`` for the text's, ``mlpX``, ``mlpC``, ``modX``, ``modC``),
``single_layers.N`` (``attn.w1q``, ``mlp``, ``modCX``), ``cond_seq_linear``,
``init_x_linear``, ``positional_encoding``, ``register_tokens``,
``t_embedder.mlp``, ``modF`` and ``final_linear``. diffusers 0.42.1's
``convert_auraflow_transformer_checkpoint_to_diffusers`` maps them to
AuraFlowTransformer2DModel's; :func:`original` is that map run backwards,
written from the converter's code: tests/test_auraflow_layout.py checks that
the converter gives back exactly the state dict it started from. Nothing here imports torch at
import time.
"""

from __future__ import annotations

from collections.abc import Mapping

# ComfyUI's prefix (COMFY_PREFIX) and the keys diffusers knows AuraFlow by live in the package, beside its autopipe_detect_keys.
from . import AURAFLOW_KEYS, COMFY_PREFIX

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from typing import Any, Iterable

#: What diffusers' CHECKPOINT_KEY_NAMES["auraflow"] requires, all of them, without a prefix.
DIFFUSERS_KEYS = AURAFLOW_KEYS
#: The patch embedding, a Linear: (hidden, patch_size**2 x latent channels).
PATCH_KEY = "init_x_linear.weight"
#: The learned positions: (1, positions, hidden); positions = the largest patch grid, 4096 = 64 x 64 for AuraFlow.
POSITIONS_KEY = "positional_encoding"
#: The text projection: (caption projection width, the text encoder's width: Pile-T5-XL's 2048).
CAPTION_KEY = "cond_seq_linear.weight"
#: The output projection: (patch_size**2 x latent channels, hidden).
OUT_KEY = "final_linear.weight"

_TOP = {
    "register_tokens": "register_tokens",
    "pos_embed.pos_embed": "positional_encoding",
    "pos_embed.proj.weight": "init_x_linear.weight",
    "pos_embed.proj.bias": "init_x_linear.bias",
    "context_embedder.weight": "cond_seq_linear.weight",
    "time_step_proj.linear_1.weight": "t_embedder.mlp.0.weight",
    "time_step_proj.linear_1.bias": "t_embedder.mlp.0.bias",
    "time_step_proj.linear_2.weight": "t_embedder.mlp.2.weight",
    "time_step_proj.linear_2.bias": "t_embedder.mlp.2.bias",
    "proj_out.weight": "final_linear.weight",
    "norm_out.linear.weight": "modF.1.weight",
}
_FEED_FORWARD = {"linear_1": "c_fc1", "linear_2": "c_fc2", "out_projection": "c_proj"}
_JOINT = {
    "norm1.linear.weight": "modX.1.weight",
    "norm1_context.linear.weight": "modC.1.weight",
    "attn.to_q.weight": "attn.w2q.weight",
    "attn.to_k.weight": "attn.w2k.weight",
    "attn.to_v.weight": "attn.w2v.weight",
    "attn.to_out.0.weight": "attn.w2o.weight",
    "attn.add_q_proj.weight": "attn.w1q.weight",
    "attn.add_k_proj.weight": "attn.w1k.weight",
    "attn.add_v_proj.weight": "attn.w1v.weight",
    "attn.to_add_out.weight": "attn.w1o.weight",
    **{f"ff.{ours}.weight": f"mlpX.{theirs}.weight" for ours, theirs in _FEED_FORWARD.items()},
    **{f"ff_context.{ours}.weight": f"mlpC.{theirs}.weight" for ours, theirs in _FEED_FORWARD.items()},
}
_SINGLE = {
    "norm1.linear.weight": "modCX.1.weight",
    "attn.to_q.weight": "attn.w1q.weight",
    "attn.to_k.weight": "attn.w1k.weight",
    "attn.to_v.weight": "attn.w1v.weight",
    "attn.to_out.0.weight": "attn.w1o.weight",
    **{f"ff.{ours}.weight": f"mlp.{theirs}.weight" for ours, theirs in _FEED_FORWARD.items()},
}


def original(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """An AuraFlowTransformer2DModel's state dict (torch tensors) renamed to the authors' layout.

    KeyError for a name the layout has no place for (a model of another
    class). The tensors are the same objects, but the final modulation,
    whose halves are swapped back.
    """
    from autopipe_core.toolkit.renames import swap_halves  # the renames module imports dataclasses and typing

    out: dict[str, Any] = {}
    for name, tensor in state_dict.items():
        if name in _TOP:
            out[_TOP[name]] = swap_halves(tensor) if name == "norm_out.linear.weight" else tensor
            continue
        block, index, rest = name.split(".", 2)
        table, theirs = {"joint_transformer_blocks": (_JOINT, "double_layers"), "single_transformer_blocks": (_SINGLE, "single_layers")}[block]
        out[f"{theirs}.{index}.{table[rest]}"] = tensor
    return out


def strip_prefix(names: Iterable[str]) -> str | None:
    """The prefix under which a file holds an AuraFlow transformer (none, or ComfyUI's), or None when it holds none."""
    names = names if isinstance(names, (set, frozenset, Mapping)) else set(names)  # a header's tensors answer `in` already
    for prefix in ("", COMFY_PREFIX):
        if all(prefix + key in names for key in DIFFUSERS_KEYS):
            return prefix
    return None
