"""A folder's JSON files as data: read, to compare the config folders a plugin ships with the ones it writes again
from the published numbers; written, for a checkpoint of JSON alone that resolves as the real one does.

The entries that stamp the library version that wrote a file
(``_diffusers_version``, ``transformers_version``) say nothing of the model:
a comparison leaves out those it is told to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

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


def write_json_files(root: str | Path, files: Mapping[str, Any]) -> Path:
    """Write each of `files` ({path relative to `root`: JSON-ready content}) under `root`, making the folders; return
    `root`. A checkpoint folder of JSON alone (model_index.json and the configs a family reads) resolves as the real
    one does. Raises ValueError for a path that leaves `root`."""
    root = Path(root)
    for name, content in files.items():
        path = root / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise ValueError(f"{name!r} is not a path inside the folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content), encoding="utf-8")
    root.mkdir(parents=True, exist_ok=True)
    return root
