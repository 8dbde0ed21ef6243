"""Helpers for ``autopipe_detect`` and ``autopipe_from_single_file``: shipped config folders, header look-ups, the default load.

A plugin that recognises single files ships, for each kind it recognises, a
folder of diffusers configs (``model_index.json`` and each component's
config, or a lone ``config.json`` for a component such as a ControlNet):
:class:`ConfigFolders` finds them. Detection reads names and shapes from the
header (:func:`first_key`, :func:`shape`, and the header's own sorted index of names:
``header.has_prefix``, ``header.with_prefix``) and says what the file states about
its prediction type (:func:`prediction_clause`). Loading is
:func:`default_load`, what the core does for every plugin that has no
``autopipe_from_single_file`` of its own: it builds the CLIP tokenizers a
config folder names but carries no vocabulary for, from the one copy of CLIP's
merges the core ships, so config folders carry only JSON.

Importing this module imports no torch, diffusers or transformers.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left

from ..errors import UnsupportedModelError
from ..files import read_json
from ..headers import SafetensorsHeader
from .tensor_names import COMFY_PREFIX, LDM_CONV_IN, LDM_LABEL_EMB, LDM_TEXT, LDM_UNET, LDM_VAE  # the layouts' names, light to import

#: typing.TYPE_CHECKING without importing typing. A cold ``autopipe resolve FILE`` imports this module with each
#: plugin's detection, so it imports no typing, pathlib, dataclasses or sources at module level (docs/plugin-guide.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Iterable, Mapping

    from ..detection import Detection
    from ..prediction import Prediction

__all__ = [
    "CLIP_TOKENIZERS", "COMFY_PREFIX", "LDM_CONV_IN", "LDM_LABEL_EMB", "LDM_TEXT", "LDM_UNET", "LDM_VAE", "VOCABULARY_FILES", "ConfigFolders",
    "block_count", "clip_tokenizer_from", "default_load", "first_key", "missing_tokenizers", "prediction_clause", "read_config", "shape",
]

#: The tokenizer classes :func:`missing_tokenizers` builds.
CLIP_TOKENIZERS = frozenset({"CLIPTokenizer", "CLIPTokenizerFast"})
#: Files that make a tokenizer folder loadable by transformers as it is.
VOCABULARY_FILES = ("vocab.json", "tokenizer.json")


def read_config(folder: str | Path, component: str | None = None) -> dict[str, Any]:
    """The JSON of ``folder/component/config.json`` (or ``folder/config.json``), as a dict.

    A missing file is a FileNotFoundError naming it; one too large, malformed or not an object
    InvalidModelError (a ValueError): read capped, as every config a caller can point at (files.read_json).
    """
    path = os.path.join(folder, component or "", "config.json")
    return read_json(path, f"{component or '.'}/config.json")


class ConfigFolders:
    """The config folders a plugin ships in `root` (usually ``Path(__file__).parent / "configs"``).

    A config folder is a sub-folder with a ``model_index.json`` (a pipeline)
    or a ``config.json`` (one component). `owner` is the distribution that
    ships them, for errors (default: the package folder's name with "-" for
    "_", ``autopipe_sd/configs`` -> "autopipe-sd").

    Detection asks for a folder as a string (:meth:`folder_path`, or
    :meth:`get_path` where there may be none; what ``Detection.config``
    holds), which needs no pathlib; :meth:`get` and :meth:`folder` give a
    ``pathlib.Path``.
    """

    def __init__(self, root: str | os.PathLike[str], owner: str | None = None) -> None:
        self._root = os.fspath(root)
        self.owner = owner or os.path.basename(os.path.dirname(self._root)).replace("_", "-")

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self._root)

    def __repr__(self) -> str:
        return f"ConfigFolders({self._root!r}, owner={self.owner!r})"

    def names(self) -> list[str]:
        """The config folders shipped, sorted by name."""
        try:
            entries = os.listdir(self._root)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(name for name in entries if self._is_config(os.path.join(self._root, name)))

    @staticmethod
    def _is_config(folder: str) -> bool:
        return os.path.isfile(os.path.join(folder, "model_index.json")) or os.path.isfile(os.path.join(folder, "config.json"))

    def get_path(self, name: str | None) -> str | None:
        """The folder shipped for `name` as a string path, or None when there is none (or `name` is None): :meth:`get`
        without pathlib, for detection that asks about a variant it may ship no config for."""
        if not name or os.path.basename(name) != name or name in (".", ".."):
            return None  # a folder's own name only, never a path out of root
        folder = os.path.join(self._root, name)
        return folder if self._is_config(folder) else None

    def get(self, name: str) -> Path | None:
        """The folder shipped for `name`, or None when there is none."""
        from pathlib import Path

        found = self.get_path(name)
        return Path(found) if found is not None else None

    def folder_path(self, name: str) -> str:
        """The folder shipped for `name`, as a string path; a ValueError naming what there is when there is none: pass it as ``config=``."""
        found = self.get_path(name)
        if found is None:
            raise ValueError(f"{self.owner} ships no config for {name!r}; it has: {', '.join(self.names())}")
        return found

    def folder(self, name: str) -> Path:
        """The folder shipped for `name` (:meth:`folder_path` as a ``pathlib.Path``); a ValueError as that gives."""
        from pathlib import Path

        return Path(self.folder_path(name))

    def config(self, name: str, component: str | None = None) -> dict[str, Any]:
        """The config.json of `component` in the folder shipped for `name` (of the folder itself when None)."""
        return read_config(self.folder_path(name), component)


def shape(header: SafetensorsHeader, key: str | None, rank: int | None = None) -> tuple[int, ...] | None:
    """The shape of tensor `key` in the header; None when it is absent (or `key` is None), or has not `rank` dimensions."""
    found = header.shape(key) if key is not None else None
    if found is None or (rank is not None and len(found) != rank):
        return None
    return tuple(found)


def first_key(header: SafetensorsHeader | Iterable[str], prefix: str, suffix: str, *, prefer: str | None = None, rank: int | None = None) -> str | None:
    """The tensor name to read: `prefer` when the file has it, else the first name, in sorted order, that starts with `prefix` and ends with `suffix`.

    `header` is a header (its tensor names) or any names. With `rank`, only
    tensors of that many dimensions count (a header is needed then). None
    when no name fits. For example the first cross-attention key projection
    of an LDM UNet, whose input width tells SD 1.x (768) from SD 2.x (1024):
    ``first_key(header, LDM_UNET, "attn2.to_k.weight", prefer=LDM_UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", rank=2)``.
    """
    indexed = isinstance(header, SafetensorsHeader)
    names = header.tensors if indexed else set(header)

    def fits(name: str) -> bool:
        return rank is None or (indexed and shape(header, name, rank) is not None)

    if prefer is not None and prefer in names and fits(prefer):
        return prefer
    candidates = header.with_prefix(prefix) if indexed else sorted(n for n in names if n.startswith(prefix))  # the header's index: no pass over every name
    return next((n for n in candidates if n.endswith(suffix) and fits(n)), None)


_BLOCK = re.compile(r"([0-9]+)\.")


def block_count(header: SafetensorsHeader | Iterable[str], start: str) -> int:
    """How many numbered blocks a file has under `start`: the highest N of a tensor ``{start}N.<rest>``, plus one; 0 for none.

    `start` ends with the dot before the number (``"model.diffusion_model.double_blocks."``).
    `header` is a header (its sorted index is searched, not every name) or
    any names. N is ASCII digits; a name with anything else there is not a
    block (``blocks.norm.weight``). ValueError for a `start` that does not end with ".".
    """
    if not start.endswith("."):
        raise ValueError(f"a block prefix ends with the dot before the block's number; got {start!r}")
    if not isinstance(header, SafetensorsHeader):
        found = [int(m[1]) for name in header if name.startswith(start) and (m := _BLOCK.match(name, len(start)))]
        return max(found) + 1 if found else 0
    names = header.with_prefix(start)  # sorted: a block's names (``{start}N.``) stand together, read once per block
    highest, i = -1, 0
    while i < len(names):
        m = _BLOCK.match(names[i], len(start))
        if m is None:
            i += 1
            continue
        highest = max(highest, int(m[1]))
        block = start + m[0]
        i = bisect_left(names, block + "\U0010ffff", i)
        while i < len(names) and names[i].startswith(block):  # names holding U+10FFFF itself, after the bound
            i += 1
    return highest + 1


def prediction_clause(prediction: Prediction, default: str, unstated: str = "") -> str:
    """The clause a detection's reason ends with about the prediction type: what the file says, or what is taken.

    ``"; " + prediction.describe()`` when the file states a type; else
    ``"; {default} ({what was found})"`` when it states something that
    decides nothing, else ``"; {default}{unstated}"``.
    """
    if prediction.type is not None:
        return "; " + prediction.describe()
    if prediction.found:
        return f"; {default} ({prediction.source})"
    return f"; {default}{unstated}"


def clip_tokenizer_from(folder: str | Path) -> Any:
    """The real CLIP tokenizer (49,408 entries) that `folder`'s tokenizer_config.json describes: its special tokens and length.

    `folder` is a tokenizer folder of a shipped config (``configs/sd1/tokenizer``).
    Its vocabulary and merges come from the copy the core ships, so the
    folder needs only tokenizer_config.json. FileNotFoundError without one.
    """
    from .tokenizers import clip_from_config

    config = read_json(os.path.join(folder, "tokenizer_config.json"), "tokenizer_config.json")
    return clip_from_config(config)


def missing_tokenizers(config: str | Path | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The CLIP tokenizers to build for loading with config folder `config`: ``{component: tokenizer}``.

    One for each component that the folder's model_index.json names as a
    ``CLIPTokenizer`` (or ``...Fast``), whose sub-folder has a
    tokenizer_config.json but no vocabulary (no vocab.json, no tokenizer.json),
    and that the caller does not pass in `kwargs`. Empty when `config` is None,
    not a folder (a hub repo id), or has no model_index.json.
    """
    if config is None:
        return {}
    from pathlib import Path

    folder = Path(config)
    index = folder / "model_index.json"
    if not index.is_file():
        return {}
    out = {}
    for name, entry in read_json(index, "model_index.json").items():
        if name.startswith("_") or name in kwargs or not isinstance(entry, list) or len(entry) != 2 or entry[1] not in CLIP_TOKENIZERS:
            continue
        sub = folder / name
        if (sub / "tokenizer_config.json").is_file() and not any((sub / f).is_file() for f in VOCABULARY_FILES):
            out[name] = clip_tokenizer_from(sub)
    return out


def default_load(pipeline_class: type, path: str, detection: Detection, kwargs: Mapping[str, Any]) -> Any:
    """``pipeline_class.from_single_file(path, **kwargs)``, with the CLIP tokenizers the config folder lacks: the core's default load.

    The config folder is ``kwargs["config"]`` (the core puts the detection's
    there; the caller's own wins), else ``detection.config``; see
    :func:`missing_tokenizers` for what is built. A component the file lacks
    and nothing supplies (diffusers' ``SingleFileComponentError``) becomes an
    :class:`~autopipe_core.UnsupportedModelError` that names the file and
    says what to pass. A plugin whose ``autopipe_from_single_file`` needs more
    (another scheduler, a component built by hand) adds it to the keywords
    and returns ``default_load(...)``.
    """
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    kwargs = dict(kwargs)
    kwargs.update(missing_tokenizers(kwargs.get("config") or detection.config, kwargs))
    try:
        return pipeline_class.from_single_file(path, **kwargs)
    except SingleFileComponentError as exc:
        raise UnsupportedModelError(f"{path}: {exc}") from exc
