"""A folder's JSON files as data, to compare the config folders a plugin ships with the ones it writes again from the
published numbers.

The entries that stamp the library version that wrote a file
(``_diffusers_version``, ``transformers_version``) say nothing of the model:
a comparison leaves out those it is told to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

#: The entries diffusers and transformers write to say which of their versions saved a config.
VERSION_KEYS: tuple[str, ...] = ("_diffusers_version", "transformers_version")


def json_files(folder: str | Path, ignore: Iterable[str] = VERSION_KEYS) -> dict[str, Any]:
    """{path relative to `folder`: the file's JSON} for every ``*.json`` under `folder`, sorted, each object without
    the top-level entries in `ignore`. Raises NotADirectoryError for a folder that is not one, and ValueError naming
    a file that is not JSON."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    ignore = frozenset(ignore)
    out: dict[str, Any] = {}
    for path in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not JSON: {error}") from error
        out[path.relative_to(folder).as_posix()] = {k: v for k, v in data.items() if k not in ignore} if isinstance(data, dict) else data
    return out
