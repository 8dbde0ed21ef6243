"""Z-Image's original tensor names (Tongyi-MAI's code, ComfyUI's files), from diffusers' names.

diffusers' ``convert_z_image_transformer_checkpoint_to_diffusers`` reads
files in the original layout: ``x_embedder`` and ``final_layer`` for its
``all_x_embedder.2-1`` and ``all_final_layer.2-1``, one fused ``qkv``
projection per attention for its ``to_q``, ``to_k``, ``to_v`` (stacked in
that order), ``out`` for ``to_out.0``, ``q_norm`` and ``k_norm`` for
``norm_q`` and ``norm_k``, and optionally ComfyUI's ``model.diffusion_model.``
prefix. This module writes that layout from a diffusers model, the inverse of
diffusers' converter (the tests check the round trip), for the tiny test file
and header-only full-size files. Nothing here imports torch but
:func:`original_state_dict`, which is handed tensors.
"""

from __future__ import annotations

from typing import Any, Mapping

# ComfyUI's prefix: the package's, which registers the names under it as autopipe_detect_keys.
from . import COMFY_PREFIX

#: diffusers' name part -> the original's (applied to each name in this order).
RENAMES = (
    ("all_x_embedder.2-1.", "x_embedder."),
    ("all_final_layer.2-1.", "final_layer."),
    (".attention.to_out.0.", ".attention.out."),
    (".attention.norm_q.", ".attention.q_norm."),
    (".attention.norm_k.", ".attention.k_norm."),
)
_QKV = (".attention.to_q.weight", ".attention.to_k.weight", ".attention.to_v.weight")


def original_name(name: str) -> str:
    """The original layout's name of one diffusers tensor name (a q, k or v projection: its fused qkv's name)."""
    for part in _QKV:
        if name.endswith(part):
            return name[: -len(part)] + ".attention.qkv.weight"
    for ours, theirs in RENAMES:
        name = name.replace(ours, theirs)
    return name


def original_shapes(shapes: Mapping[str, tuple[int, ...]], prefix: str = "") -> dict[str, tuple[int, ...]]:
    """A diffusers transformer's tensor shapes under their original names (q, k, v stacked along rows), each under `prefix`."""
    out: dict[str, tuple[int, ...]] = {}
    for name, shape in shapes.items():
        key = prefix + original_name(name)
        if key in out and name.endswith(_QKV):
            out[key] = (out[key][0] + shape[0], *shape[1:])
        else:
            out[key] = tuple(shape)
    return out


def original_state_dict(state: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A diffusers ZImageTransformer2DModel's state dict under the original names, q, k, v fused (torch tensors in, out)."""
    import torch

    out: dict[str, Any] = {}
    for name, tensor in state.items():
        if name.endswith(_QKV[0]):
            stem = name[: -len(_QKV[0])]
            out[prefix + original_name(name)] = torch.cat([state[stem + part] for part in _QKV], dim=0).contiguous()
        elif not name.endswith(_QKV[1:]):
            out[prefix + original_name(name)] = tensor.contiguous()
    return out
