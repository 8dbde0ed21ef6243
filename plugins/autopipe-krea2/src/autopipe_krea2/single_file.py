"""Krea 2 single files: the transformer in Krea's layout, recognised from the header and loaded offline.

What diffusers 0.42.1's ``from_single_file`` reads of Krea 2
(``diffusers/loaders/single_file_utils.py``) is the transformer alone:
``CHECKPOINT_KEY_NAMES["krea2"]`` is ``txtfusion.projector.weight``, bare or
under ComfyUI's ``model.diffusion_model.``, and
``Krea2Transformer2DModel.from_single_file`` converts it
(``convert_krea2_transformer_checkpoint_to_diffusers``). Krea2Pipeline has no
``from_single_file``. This plugin recognises the same files from their
header, and tells their size from ``first.weight`` (hidden x in_channels),
``txtmlp.1.weight`` (hidden x text width), ``txtfusion.projector.weight``
(1 x tapped layers), ``blocks.0.attn.wk.weight`` (key/value heads) and the
number of blocks.

A file of Krea 2's shape (Krea2Transformer2DModel's defaults, which its
docstring gives as Krea 2's: 6144 wide, 28 blocks, 12 taps of a 2560-wide
Qwen3-VL) is claimed as a Krea2Pipeline checkpoint and loaded by :func:`load`:
the transformer from the file with the config this plugin ships, the text
encoder, tokenizer and VAE from the caller or from ``config=`` naming a
Krea 2 diffusers folder or repo. The base and the distilled transformer have
the same tensors: a file is loaded as the base (``is_distilled`` false);
pass ``is_distilled=True`` for the distilled one. A file of another shape is
recognised as a Krea 2 transformer to load by hand (its ``use`` says how).
Only a file's transformer tensors are read; nothing here imports torch but
the loaders.
"""

from __future__ import annotations

import os

from autopipe_core import Detection, serialized
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.toolkit.single_file import ConfigFolders, block_count, shape
from autopipe_core.toolkit.transformer_file import TransformerFile, load_transformer_file, model_from_file, prefixed_tensors

from . import EXAMPLE, KREA2, KREA2_CLASS
from .layout import DETECT_KEY, FIRST_KEY, TEXT_KEY, strip_prefix

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

FOLDERS = ConfigFolders(os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs"), "autopipe-krea2")

#: (hidden, in_channels, blocks, text width, tapped layers) -> the shipped config folder: Krea 2 (the class's defaults)
#: and this plugin's tiny test layout.
MODELS = {(6144, 64, 28, 2560, 12): "krea2", (16, 16, 2, 16, 2): "krea2-tiny"}
#: The components a transformer file gives diffusers nothing of, which the caller or config= supplies.
NOT_IN_THE_FILE = ("text_encoder", "tokenizer", "vae")

_UNKNOWN_USE = (
    "autopipe-krea2 ships the config of Krea 2 (6144 wide, 28 blocks, 12 taps of Qwen3-VL-4B's 2560-wide states); for this one "
    "load it with diffusers.Krea2Transformer2DModel.from_single_file(path, config=<the diffusers repo it was trained from>, "
    "subfolder='transformer') and pass it as transformer= to Krea2Pipeline.from_pretrained"
)


def config_folder(variant: str) -> Path:
    """The shipped config folder of a variant ("krea2", "krea2-tiny"); ValueError naming those shipped for another."""
    return FOLDERS.folder(variant)


def detect(header: SafetensorsHeader) -> list[Detection]:
    """Krea 2 transformers in Krea's layout, bare or under ComfyUI's prefix; nothing else (an empty list)."""
    names = header.tensors
    prefix = strip_prefix(names)
    if prefix is None:
        return []
    first = shape(header, prefix + FIRST_KEY, rank=2)
    text = shape(header, prefix + TEXT_KEY, rank=2)
    taps = shape(header, prefix + DETECT_KEY, rank=2)
    if first is None or text is None or taps is None:
        return []
    hidden, channels = first
    blocks = block_count(header, f"{prefix}blocks.")
    said = f"first.weight {list(first)}, {blocks} blocks, text {text[1]} wide, {taps[1]} tapped layers"
    where = "ComfyUI's layout, under model.diffusion_model." if prefix else "Krea's layout"
    variant = MODELS.get((hidden, channels, blocks, text[1], taps[1]))
    if variant is None:
        reason = f"a Krea 2 transformer in {where} ({said}), of a size autopipe-krea2 ships no config for"
        return [Detection(KREA2, "krea2-original", 0.6, reason, component="diffusers:Krea2Transformer2DModel", use=_UNKNOWN_USE)]
    what = "Krea 2 (12.8 B)" if variant == "krea2" else "autopipe-krea2's tiny test layout"
    other = [n for n in names if not n.startswith(prefix)] if prefix else []
    unread = f"; its other tensors ({len(other)}) are not read" if other else ""
    reason = (
        f"a Krea 2 transformer in {where} ({said}): {what}{unread}; loaded as the base checkpoint (pass is_distilled=True for the "
        f"distilled one); pass text_encoder=, tokenizer= and vae=, or config=<a Krea 2 diffusers folder or repo with their weights> "
        f"(such as {EXAMPLE})"
    )
    return [Detection(
        KREA2, variant, 0.95 if variant == "krea2" else 0.9, reason, pipeline_class=f"diffusers:{KREA2_CLASS}",
        config=FOLDERS.folder_path(variant), prefixes={"transformer": prefix},
    )]


def transformer_weights(path: str, prefix: str) -> str | dict[str, Any]:
    """What to hand ``from_single_file``: the file itself for bare names, else its transformer's tensors alone.

    diffusers' converter strips ComfyUI's prefix itself, but reads and
    converts every tensor of the file: a ComfyUI checkpoint's text encoder
    and VAE (gigabytes) would be loaded, then dropped with a warning ("Some
    weights of the model checkpoint were not used", checked with diffusers
    0.42.1). So a prefixed file's transformer tensors are read here, and only those.
    """
    return prefixed_tensors(path, prefix, strip=False) if prefix else path


@serialized
def load_transformer(path: str, folder: str, prefix: str = "", dtype: Any = None, local_files_only: bool = True) -> Any:
    """``Krea2Transformer2DModel.from_single_file`` of `path` with the transformer config in `folder` (offline by default)."""
    from diffusers import Krea2Transformer2DModel

    return model_from_file(Krea2Transformer2DModel, transformer_weights(path, prefix), folder, dtype, local_files_only)


#: What :func:`load` needs of the toolkit's transformer-file loader: where the rest of the pipeline comes from, and what to say without it.
TRANSFORMER_FILE = TransformerFile(
    folders=FOLDERS, family=KREA2, tiny_variant="krea2-tiny", holds="a Krea 2 transformer",
    supplies=f"Qwen3-VL-4B as a Qwen3VLModel, its tokenizer and Qwen-Image's VAE, e.g. the components of Krea2Pipeline.from_pretrained({EXAMPLE!r})",
    checkpoint="a Krea 2 diffusers folder or repo id", example=EXAMPLE, load_transformer=load_transformer, others=NOT_IN_THE_FILE,
    tokenizer_files=("tokenizer", "vocab"),
)


def load(family: str, pipeline_class: type, path: str, detection: Detection, kwargs: dict[str, Any]) -> Any:
    """The ``autopipe_from_single_file`` hook: the transformer from the file, the other components from the caller or ``config=``.

    The transformer loads with ``Krea2Transformer2DModel.from_single_file``
    and the config this plugin ships, in the dtype the keywords give it. The
    text encoder, tokenizer and VAE are the caller's (``text_encoder=``,
    ``tokenizer=``, ``vae=``), else loaded from ``config=`` when it names a
    Krea 2 diffusers folder or hub repo (``local_files_only=True`` unless the
    caller says otherwise); the scheduler and the pipeline's config
    (``text_encoder_select_layers``, ``is_distilled``, ``patch_size``) come
    from there too, else from the shipped folder. For the plugin's tiny test
    layout they come from the tiny checkpoint. What is still missing is an
    :class:`~autopipe_core.UnsupportedModelError` that says what to pass,
    raised before a byte of the file is read (``toolkit.single_file.load_transformer_file``).
    """
    return load_transformer_file(TRANSFORMER_FILE, pipeline_class, path, detection, kwargs)
