"""diffusers' weight variants as the file names say them: which files a component loads, which variants it holds.

A diffusers checkpoint may keep a component's weights several times, told
apart by a tag in the file name: ``diffusion_pytorch_model.safetensors``
(the plain files), ``diffusion_pytorch_model.fp16.safetensors``, and their
shards ``diffusion_pytorch_model.fp16-00001-of-00002.safetensors``.
``from_pretrained(variant="fp16")`` loads the tagged files where a component
has them and the plain ones where not (diffusers' ``_get_model_file`` and
``variant_compatible_siblings``). The planner and the toolkit's load plans
both read these rules from here; nothing is opened, only names are read.
"""

from __future__ import annotations

import re
from typing import Iterable

#: The weight variants diffusers checkpoints are saved in besides the plain files (the files' ".<variant>." tag).
WEIGHT_VARIANTS = ("fp16", "bf16")

#: The weight files' names before the variant tag and shard suffix: diffusers' models load
#: ``diffusion_pytorch_model`` (``SAFETENSORS_WEIGHTS_NAME``, ``WEIGHTS_NAME``), transformers' ``model`` and, for
#: pickles, ``pytorch_model``. Any other file in a component's folder is never loaded, so never counted.
WEIGHT_NAMES = frozenset({"diffusion_pytorch_model", "model", "pytorch_model"})

_SHARD = re.compile(r"-\d{5}-of-\d{5}$")


def _stem(filename: str) -> str:
    """``diffusion_pytorch_model.fp16-00001-of-00002.safetensors`` -> ``diffusion_pytorch_model.fp16``."""
    stem = filename.rsplit(".", 1)[0]
    return _SHARD.sub("", stem)


def _loaded(filename: str) -> bool:
    """Whether a component folder's file is one the libraries load: a weight name, perhaps a variant, perhaps a shard."""
    return _stem(filename).partition(".")[0] in WEIGHT_NAMES


def weight_files(files: Iterable[str], component: str, variant: str | None) -> tuple[tuple[str, ...], str, bool]:
    """The weight files of `component` that diffusers would load with `variant`: (files, "safetensors" or "pickle", variant_found).

    Within the component's folder, among the files named as the libraries load them (:data:`WEIGHT_NAMES`): the
    variant's files (``*.fp16.safetensors``, ``*.fp16-00001-of-00002.safetensors``) if there are some, else the plain
    ones, as diffusers falls back; safetensors before pickle (``.bin``), as
    diffusers prefers them. Empty when the folder holds no weights (a
    tokenizer, a scheduler).
    """
    prefix = component.rstrip("/") + "/"
    names = [f[len(prefix):] for f in files if f.startswith(prefix) and "/" not in f[len(prefix):]]
    for kind, suffix in (("safetensors", ".safetensors"), ("pickle", ".bin")):
        found = [n for n in names if n.endswith(suffix) and _loaded(n)]
        tagged = [n for n in found if variant and _stem(n).endswith(f".{variant}")]
        if tagged:
            return tuple(prefix + n for n in sorted(tagged)), kind, True
        plain = [n for n in found if "." not in _stem(n)]
        if plain:
            return tuple(prefix + n for n in sorted(plain)), kind, False
    return (), "", False


def stored_variants(files: Iterable[str], component: str) -> set[str | None]:
    """The weight variants `component`'s folder holds files of: None for the plain files, "fp16", "bf16" (any tag seen)."""
    prefix = component.rstrip("/") + "/"
    out: set[str | None] = set()
    for f in files:
        name = f[len(prefix):] if f.startswith(prefix) else None
        if name is None or "/" in name or not name.endswith((".safetensors", ".bin")) or not _loaded(name):
            continue
        stem = _stem(name)
        out.add(stem.partition(".")[2] if "." in stem else None)  # f"{name}.{variant}": a variant may hold a dot
    return out
