"""AuraFlow single files: the transformer in the authors' layout, recognised from the header and loaded offline.

What diffusers 0.42.1's ``from_single_file`` reads of AuraFlow
(``diffusers/loaders/single_file_utils.py``) is the transformer alone, in the
authors' layout with bare names (diffusers calls a file "auraflow" when it has
all of ``double_layers.0.attn.w2q.weight``, ``double_layers.0.attn.w1q.weight``,
``cond_seq_linear.weight`` and ``t_embedder.mlp.0.weight``), through
``AuraFlowTransformer2DModel.from_single_file``. AuraFlowPipeline has no
``from_single_file``. This plugin recognises:

- the bare layout (diffusers' "auraflow"; city96's AuraFlow GGUF files have
  these names too, but are no .safetensors);
- the same transformer under ComfyUI's ``model.diffusion_model.``, the part
  of fal's own ``aura_flow_0.1/0.2/0.3.safetensors`` that holds it (they carry
  Pile-T5-XL under ``text_encoders.`` and the VAE under ``vae.`` beside it, in
  ComfyUI's layout). diffusers' own detection misses these (it looks for bare
  names) and its converter keeps the prefix; :func:`load` reads the
  transformer's tensors itself, strips the prefix and hands diffusers the
  state dict. The file's text encoder and VAE are not read.

A file is claimed as an AuraFlowPipeline checkpoint and loaded by
:func:`load`: the transformer from the file with the config this plugin ships
(fal/AuraFlow's, the number of learned positions read from the file), the
text encoder, tokenizer and VAE from the caller or from ``config=`` naming an
AuraFlow diffusers folder or repo. Nothing here imports torch but the loaders.
"""

from __future__ import annotations

import math
import os

from autopipe_core import Detection, serialized
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.toolkit.single_file import ConfigFolders, block_count, shape
from autopipe_core.toolkit.transformer_file import TransformerFile, load_transformer_file, model_from_file, prefixed_tensors

from . import AURAFLOW, AURAFLOW_CLASS
from .layout import CAPTION_KEY, PATCH_KEY, POSITIONS_KEY, strip_prefix

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

FOLDERS = ConfigFolders(os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs"), "autopipe-auraflow")

#: (hidden, joint blocks, single-stream blocks, text width) -> the shipped config folder: AuraFlow v0.1 to v0.3 and
#: their fine-tunes (6.8 B; fal/AuraFlow's transformer/config.json) and this plugin's tiny test layout.
MODELS = {(3072, 4, 32, 2048): "auraflow", (16, 1, 1, 32): "auraflow-tiny"}
#: The components a transformer file gives diffusers nothing of, which the caller or config= supplies.
NOT_IN_THE_FILE = ("text_encoder", "tokenizer", "vae")
DEFAULT_REPO = "fal/AuraFlow-v0.3"

_UNKNOWN_USE = (
    "autopipe-auraflow ships the config of AuraFlow (3072 wide, 4 joint and 32 single-stream blocks, Pile-T5-XL's 2048-wide "
    "text); for this one load it with diffusers.AuraFlowTransformer2DModel.from_single_file(path, config=<the diffusers repo it "
    "was trained from>, subfolder='transformer') and pass it as transformer= to AuraFlowPipeline.from_pretrained"
)


def config_folder(variant: str) -> Path:
    """The shipped config folder of a variant ("auraflow"); ValueError naming those shipped for another."""
    return FOLDERS.folder(variant)


def positions(header_shape: tuple[int, ...] | None, hidden: int) -> int | None:
    """The number of learned positions of a ``positional_encoding`` of this shape, (1, n, hidden) with n a square; else None."""
    if header_shape is None or len(header_shape) != 3 or header_shape[0] != 1 or header_shape[2] != hidden:
        return None
    n = header_shape[1]
    return n if math.isqrt(n) ** 2 == n else None


def detect(header: SafetensorsHeader) -> list[Detection]:
    """AuraFlow transformers in the authors' layout, bare or under ComfyUI's prefix; nothing else."""
    names = header.tensors
    prefix = strip_prefix(names)
    if prefix is None:
        return []
    patch = shape(header, prefix + PATCH_KEY, rank=2)
    caption = shape(header, prefix + CAPTION_KEY, rank=2)
    if patch is None or caption is None:
        return []
    hidden = patch[0]
    joint, single = block_count(header, f"{prefix}double_layers."), block_count(header, f"{prefix}single_layers.")
    grid = positions(shape(header, prefix + POSITIONS_KEY), hidden)
    said = f"init_x_linear {list(patch)}, {joint} joint and {single} single-stream blocks, text {caption[1]} wide, {grid or '?'} positions"
    where = "ComfyUI's checkpoint layout, under model.diffusion_model." if prefix else "the authors' layout"
    variant = MODELS.get((hidden, joint, single, caption[1]))
    if variant is None or grid is None:
        reason = f"an AuraFlow transformer in {where} ({said})"
        return [Detection(AURAFLOW, "auraflow-original", 0.6, reason, component="diffusers:AuraFlowTransformer2DModel", use=_UNKNOWN_USE)]
    what = "AuraFlow (6.8 B: v0.1 to v0.3, Pony V7)" if variant == "auraflow" else "autopipe-auraflow's tiny test layout"
    other = [n for n in names if not n.startswith(prefix)] if prefix else []
    unread = f"; its other tensors ({len(other)}, ComfyUI's text encoder and VAE) are not read" if other else ""
    reason = (
        f"an AuraFlow transformer in {where} ({said}): {what}{unread}; pass text_encoder=, tokenizer= and vae=, or "
        f"config=<an AuraFlow diffusers folder or repo with their weights> (such as {DEFAULT_REPO})"
    )
    return [Detection(
        AURAFLOW, variant, 0.95 if variant == "auraflow" else 0.9, reason, pipeline_class=f"diffusers:{AURAFLOW_CLASS}",
        config=FOLDERS.folder_path(variant), prefixes={"transformer": prefix},
    )]


def transformer_weights(path: str, prefix: str) -> tuple[str | dict[str, Any], int]:
    """(what to hand ``from_single_file``, the number of learned positions): the file itself for bare names, else its transformer's tensors.

    diffusers 0.42.1's AuraFlow converter reads bare names only: under
    ComfyUI's prefix it takes the prefix's words for block numbers and fails
    with a ValueError (tests/test_auraflow_layout.py checks that this is still so). So a prefixed file's transformer
    tensors are read here, renamed without the prefix; its other tensors
    (ComfyUI's text encoder and VAE) are never read.
    """
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        grid = f.get_slice(prefix + POSITIONS_KEY).get_shape()[1]
    return (prefixed_tensors(path, prefix) if prefix else path), grid


@serialized
def load_transformer(path: str, folder: str, prefix: str = "", dtype: Any = None, local_files_only: bool = True) -> Any:
    """``AuraFlowTransformer2DModel.from_single_file`` of `path` with the config in `folder`, as many learned positions as the file has."""
    from diffusers import AuraFlowTransformer2DModel

    weights, grid = transformer_weights(path, prefix)
    return model_from_file(AuraFlowTransformer2DModel, weights, folder, dtype, local_files_only, pos_embed_max_size=grid)


#: What :func:`load` needs of the toolkit's transformer-file loader: where the rest of the pipeline comes from, and what to say without it.
TRANSFORMER_FILE = TransformerFile(
    folders=FOLDERS, family=AURAFLOW, tiny_variant="auraflow-tiny", holds="an AuraFlow transformer",
    supplies=f"Pile-T5-XL, its tokenizer and SDXL's VAE, e.g. the components of AuraFlowPipeline.from_pretrained({DEFAULT_REPO!r})",
    checkpoint="an AuraFlow diffusers folder or repo id", example=DEFAULT_REPO, load_transformer=load_transformer, others=NOT_IN_THE_FILE,
)


def load(family: str, pipeline_class: type, path: str, detection: Detection, kwargs: dict[str, Any]) -> Any:
    """The ``autopipe_from_single_file`` hook: the transformer from the file, the other components from the caller or ``config=``.

    The transformer loads with ``AuraFlowTransformer2DModel.from_single_file``
    and the config this plugin ships (diffusers converts the weights), in the
    dtype the keywords give it. The text encoder, tokenizer and VAE are the
    caller's (``text_encoder=``, ``tokenizer=``, ``vae=``), else loaded from
    ``config=`` when it names an AuraFlow diffusers folder or hub repo
    (``local_files_only=True`` unless the caller says otherwise); the
    scheduler comes from there too, else from the shipped folder (flow-match
    Euler, shift 1.73). For the plugin's tiny test layout they come from the
    tiny checkpoint. What is still missing is an
    :class:`~autopipe_core.UnsupportedModelError` that says what to pass,
    raised before a byte of the file is read (``toolkit.single_file.load_transformer_file``).
    """
    return load_transformer_file(TRANSFORMER_FILE, pipeline_class, path, detection, kwargs)
