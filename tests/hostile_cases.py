"""Hostile checkpoints of issue 13 beyond the safetensors headers, each built in a folder and refused by one call.

Shared by tests/test_hostile_inputs.py (which holds each to the bound of
tests/bounds.py) and bench/reliability_costs.py (which prints the figures
docs/reliability.md quotes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

# name -> (build(root, tiny_sd) -> the argument, the call that must refuse it, the exception type, a fragment of its message)
Case = tuple[Callable[[Path, Path], Any], Callable[[Any], Any], str, str]


def _copy(tiny: Path, dest: Path, **entries: Any) -> Path:
    dest.mkdir(parents=True)
    for item in tiny.iterdir():
        if item.name != "model_index.json":
            (dest / item.name).symlink_to(item, target_is_directory=item.is_dir())
    index = json.loads((tiny / "model_index.json").read_text())
    index.update(entries)
    (dest / "model_index.json").write_text(json.dumps(index))
    return dest


def _nested(root: Path, tiny: Path, inner: dict, depth: int = 1) -> Path:
    folder = _copy(tiny, root / "m", safety_checker=["diffusers", "DiffusionPipeline"])
    level = folder / "safety_checker"
    for _ in range(depth - 1):
        level.mkdir()
        (level / "model_index.json").write_text(json.dumps({"_class_name": "DiffusionPipeline", "safety_checker": ["diffusers", "DiffusionPipeline"]}))
        level = level / "safety_checker"
    level.mkdir()
    (level / "model_index.json").write_text(json.dumps(inner))
    return folder


def _loop(root: Path, tiny: Path) -> Path:
    (root / "loop").symlink_to(root / "loop")
    return root / "loop"


def _huge_card(root: Path, tiny: Path) -> Path:
    (root / "README.md").write_bytes(b"---\nprior: [x]\n---\n")
    os.truncate(root / "README.md", 4 << 30)  # sparse: a 4 GiB card that costs no disk
    return root


def _fifo_card(root: Path, tiny: Path) -> Path:
    os.mkfifo(root / "README.md")
    return root


def _absurd(root: Path, tiny: Path) -> Path:
    import shutil

    folder = root / "m"
    shutil.copytree(tiny, folder, symlinks=True)
    config = json.loads((folder / "unet" / "config.json").read_text())
    config["sample_size"] = 10**300
    (folder / "unet" / "config.json").write_text(json.dumps(config))
    return folder


def _many_components(root: Path, tiny: Path) -> Path:
    # a 1 MiB model_index.json (the cap) listing ~20,000 foreign components
    entries = {f"c{i}": ["os", "system"] for i in range(20_000)}
    return _copy(tiny, root / "m", **entries)


def _modular(root: Path, tiny: Path) -> Path:
    folder = root / "m"
    folder.mkdir()
    spec = {"type_hint": ["diffusers", "UNet2DConditionModel"], "pretrained_model_name_or_path": "x/y"}
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "XModularPipeline", "_blocks_class_name": "XBlocks", "unet": ["diffusers", "UNet2DConditionModel", spec]}))
    return folder


def _load(model: Any) -> Any:
    from autopipe_core import AutoPipelineForText2Image

    return AutoPipelineForText2Image.from_pretrained(model)


def _resolve(model: Any) -> Any:
    from autopipe_core import resolve

    return resolve(model, "text2img")


def _card(folder: Any) -> Any:
    from autopipe_core.sources import card_data

    return card_data(folder)


def _plan(folder: Any) -> Any:
    from autopipe_core import DeviceFacts, resolve
    from autopipe_core.planning import plan

    return plan(resolve(folder, "text2img"), DeviceFacts("cuda", 1, 8 << 30, 8 << 30))


CASES: dict[str, Case] = {
    "a pipeline nested as a component names a foreign library": (
        lambda root, tiny: _nested(root, tiny, {"_class_name": "StableDiffusionPipeline", "unet": ["os", "system"]}), _load, "UntrustedCodeError", "safety_checker/unet",
    ),
    "a nested custom pipeline (list _class_name)": (
        lambda root, tiny: _nested(root, tiny, {"_class_name": ["mod", "Cls"]}), _load, "UntrustedCodeError", "custom pipeline",
    ),
    "pipelines nested 4 deep": (
        lambda root, tiny: _nested(root, tiny, {"_class_name": "StableDiffusionPipeline"}, depth=4), _load, "UntrustedCodeError", "nested more than 3",
    ),
    "20,000 foreign components in model_index.json": (_many_components, _load, "UntrustedCodeError", "names the library 'os'; and 19990 more"),
    "a top-level custom pipeline (list _class_name)": (
        lambda root, tiny: _copy(tiny, root / "m", _class_name=["pipeline_x", "XPipeline"]), _resolve, "UntrustedCodeError", "custom pipeline",
    ),
    "diffusers' modular format": (_modular, _resolve, "UnsupportedModelError", "modular pipeline format"),
    "a symlink loop given as the model": (_loop, _resolve, "ModelNotFoundError", "symbolic links"),
    "a 4 GiB model card (sparse)": (_huge_card, _card, "InvalidModelError", "reads at most"),
    "a FIFO named README.md": (_fifo_card, _card, "InvalidModelError", "not a regular file"),
    "sample_size 10**300 in unet/config.json, planned": (_absurd, _plan, "InvalidModelError", "sample_size"),
}
