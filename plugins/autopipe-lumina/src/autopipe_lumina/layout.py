"""The original tensor layouts of Lumina's transformers: names the single-file code reads, and the tiny file's writer.

Lumina-Image 2.0's own checkpoints (Alpha-VLLM's ``consolidated`` files,
ComfyUI's repackaged ``lumina_2_model_bf16.safetensors`` under
``model.diffusion_model.``, kohya's and Neta Lumina's) name the Next-DiT's
modules as the authors' code does; diffusers 0.42.1's
``convert_lumina2_to_diffusers`` maps them to Lumina2Transformer2DModel's.
:func:`original` is that map run backwards, written from the converter's
table: the test suite checks that diffusers' converter gives back exactly
the state dict it started from.

Lumina-Next's original files (Alpha-VLLM/Lumina-Next-SFT) share the caption
embedder's name (``cap_embedder.0.weight``, which diffusers' detection reads
as "lumina2") but keep separate query, key and value projections and a
cross-attention to the caption (``attention.wq``, ``attention.wk_y``), the
names of diffusers' ``scripts/convert_lumina_to_diffusers.py``.

Nothing here imports torch at import time.
"""

from __future__ import annotations

from collections.abc import Mapping

# ComfyUI's prefix and the caption embedder's norm: the package's, which registers them as autopipe_detect_keys.
from . import CAPTION_NORM_KEY, COMFY_PREFIX

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from typing import Any, Iterable

#: The caption embedder's projection from the text encoder's width to the transformer's: (hidden, caption features).
CAPTION_KEY = "cap_embedder.1.weight"
#: The patch embedding, a Linear: (hidden, patch_size**2 * latent channels).
PATCH_KEY = "x_embedder.weight"
#: Lumina 2's fused attention projection of the first layer: (query + 2 x key/value widths, hidden).
QKV_KEY = "layers.0.attention.qkv.weight"
#: Lumina 2's refiner blocks (noise: modulated; caption: not).
NOISE_REFINER = "noise_refiner."
CONTEXT_REFINER = "context_refiner."
#: Lumina-Next's separate query projection and its cross-attention keys over the caption.
NEXT_QUERY_KEY = "layers.0.attention.wq.weight"
NEXT_CAPTION_KEY = "layers.0.attention.wk_y.weight"
#: Z-Image's first modulation (a Linear alone, where Lumina 2 has SiLU then Linear, ``adaLN_modulation.1``): diffusers
#: checks it before Lumina 2's keys, so a file with it is Z-Image's, never Lumina 2's.
ZIMAGE_KEY = "layers.0.adaLN_modulation.0.weight"
#: The final RMSNorm of the authors' code, unused at inference; diffusers' converter drops it.
UNUSED_NORM = "norm_final.weight"

#: diffusers' Lumina 2 converter splits every fused qkv at these rows (Lumina-Image 2.0's 24 query and 8 key/value
#: heads of 96), whatever the file's shapes: it can read a 2304-wide transformer with 768-wide keys and values only.
CONVERTER_SPLIT = (2304, 768, 768)

# diffusers' module names -> the original ones, applied to each name in this order (the converter's tables, reversed).
_BLOCK_NAMES = (
    ("attn.norm_q.", "attention.q_norm."),
    ("attn.norm_k.", "attention.k_norm."),
    ("attn.to_out.0.", "attention.out."),
    ("feed_forward.linear_1.", "feed_forward.w1."),
    ("feed_forward.linear_2.", "feed_forward.w2."),
    ("feed_forward.linear_3.", "feed_forward.w3."),
    ("norm1.linear.", "adaLN_modulation.1."),
    ("norm1.norm.", "attention_norm1."),
    ("norm2.", "attention_norm2."),
)
_TOP_NAMES = (
    ("time_caption_embed.timestep_embedder.linear_1.", "t_embedder.mlp.0."),
    ("time_caption_embed.timestep_embedder.linear_2.", "t_embedder.mlp.2."),
    ("time_caption_embed.caption_embedder.", "cap_embedder."),
    ("norm_out.linear_1.", "final_layer.adaLN_modulation.1."),
    ("norm_out.linear_2.", "final_layer.linear."),
)


def _rename(name: str) -> str:
    for ours, theirs in _TOP_NAMES:
        if name.startswith(ours):
            return theirs + name[len(ours):]
    block, _, rest = name.partition(".")
    index, _, rest = rest.partition(".")
    if block == "context_refiner" and rest.startswith("norm1."):  # an unmodulated block: norm1 is the RMSNorm itself
        return f"{block}.{index}.attention_norm1.{rest[len('norm1.'):]}"
    for ours, theirs in _BLOCK_NAMES:
        if rest.startswith(ours):
            return f"{block}.{index}.{theirs}{rest[len(ours):]}"
    return name


def original(state_dict: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """A Lumina2Transformer2DModel's state dict (torch tensors) renamed to the authors' layout, q, k and v fused per block.

    `config` is the model's (for its hidden size). Adds the authors' unused
    ``norm_final.weight`` (ones), as their files carry it. The tensors are
    the same objects where not fused.
    """
    import torch

    out: dict[str, Any] = {}
    for name, tensor in state_dict.items():
        if ".attn.to_k." in name or ".attn.to_v." in name:
            continue
        if ".attn.to_q." in name:
            k, v = state_dict[name.replace(".to_q.", ".to_k.")], state_dict[name.replace(".to_q.", ".to_v.")]
            out[_rename(name).replace("attn.to_q.", "attention.qkv.")] = torch.cat([tensor, k, v], dim=0)
            continue
        out[_rename(name)] = tensor
    out[UNUSED_NORM] = torch.ones(config["hidden_size"])
    return out


def strip_prefix(names: Iterable[str]) -> str:
    """The prefix of a file's Lumina tensors: ComfyUI's ``model.diffusion_model.`` or none."""
    names = names if isinstance(names, (set, frozenset, Mapping)) else set(names)  # a header's tensors answer `in` already
    return COMFY_PREFIX if COMFY_PREFIX + CAPTION_NORM_KEY in names else ""
