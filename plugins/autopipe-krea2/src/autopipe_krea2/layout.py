"""Krea 2's original transformer layout (Krea's and ComfyUI's tensor names), as diffusers 0.42.1's converter reads it.

diffusers converts Krea's names to its own in
``single_file_utils.convert_krea2_transformer_checkpoint_to_diffusers``: a
prefix renamed (``first.`` -> ``img_in.``, ``txtfusion.`` -> ``text_fusion.``,
``blocks.`` -> ``transformer_blocks.``, ...), then names inside blocks
(``.attn.wq.`` -> ``.attn.to_q.``, ``.mlp.`` -> ``.ff.``,
``.prenorm.scale`` -> ``.norm1.weight``, ...), and each block's six
modulation vectors, stored flat, reshaped to (6, hidden). :func:`original`
is the inverse, written here from those tables (tests/test_krea2_single_file.py
checks that diffusers' converter gives back exactly the state dict it
started from). Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping

# ComfyUI's prefix (COMFY_PREFIX) and the key diffusers knows Krea 2 by live in the package, beside its autopipe_detect_keys.
from . import COMFY_PREFIX, KREA2_KEY

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from typing import Any, Iterable

#: The tensor diffusers' single-file code recognises Krea 2 by (CHECKPOINT_KEY_NAMES["krea2"], without the prefix).
DETECT_KEY = KREA2_KEY
#: (hidden, in_channels) of the first layer: ``first.weight`` is (hidden, in_channels).
FIRST_KEY = "first.weight"
#: The text projection's first linear layer: (hidden, text width).
TEXT_KEY = "txtmlp.1.weight"
#: The grouped-query key projection of the first block: (key/value heads x head dim, hidden).
KEY_KEY = "blocks.0.attn.wk.weight"

#: diffusers' prefix -> Krea's, the converter's prefix table reversed (diffusers 0.42.1).
PREFIXES = (
    ("img_in.", "first."),
    ("time_embed.linear_1.", "tmlp.0."),
    ("time_embed.linear_2.", "tmlp.2."),
    ("time_mod_proj.", "tproj.1."),
    ("txt_in.norm.weight", "txtmlp.0.scale"),
    ("txt_in.linear_1.", "txtmlp.1."),
    ("txt_in.linear_2.", "txtmlp.3."),
    ("text_fusion.", "txtfusion."),
    ("transformer_blocks.", "blocks."),
    ("final_layer.linear.", "last.linear."),
    ("final_layer.norm.weight", "last.norm.scale"),
    ("final_layer.scale_shift_table", "last.modulation.lin"),
)
#: diffusers' names inside a block -> Krea's, the converter's block table reversed.
INSIDE = (
    (".attn.to_q.", ".attn.wq."),
    (".attn.to_k.", ".attn.wk."),
    (".attn.to_v.", ".attn.wv."),
    (".attn.to_out.0.", ".attn.wo."),
    (".attn.to_gate.", ".attn.gate."),
    (".attn.norm_q.weight", ".attn.qknorm.qnorm.scale"),
    (".attn.norm_k.weight", ".attn.qknorm.knorm.scale"),
    (".ff.", ".mlp."),
    (".norm1.weight", ".prenorm.scale"),
    (".norm2.weight", ".postnorm.scale"),
    (".scale_shift_table", ".mod.lin"),
)


def original_name(name: str) -> str:
    """The Krea name of a diffusers Krea2Transformer2DModel tensor name; ValueError for a name the layout has not."""
    for ours, theirs in PREFIXES:
        if name.startswith(ours):
            renamed = theirs + name[len(ours):]
            break
    else:
        raise ValueError(f"{name!r} is no Krea2Transformer2DModel tensor name this layout knows")
    if renamed.startswith(("blocks.", "txtfusion.")):
        for ours, theirs in INSIDE:
            renamed = renamed.replace(ours, theirs)
    return renamed


def original(state: Mapping[str, Any]) -> dict[str, Any]:
    """A Krea2Transformer2DModel state dict in Krea's layout: renamed, each block's (6, hidden) modulation table flattened."""
    out = {}
    for name, tensor in state.items():
        if name.startswith("transformer_blocks.") and name.endswith(".scale_shift_table"):
            tensor = tensor.reshape(-1)
        out[original_name(name)] = tensor
    return out


def strip_prefix(names: Iterable[str]) -> str | None:
    """The prefix Krea 2's tensors sit under in a file with these names ("" or ComfyUI's), or None when it has none."""
    names = names if isinstance(names, (set, frozenset, Mapping)) else set(names)  # a header's tensors answer `in` already
    for prefix in ("", COMFY_PREFIX):
        if prefix + DETECT_KEY in names:
            return prefix
    return None
