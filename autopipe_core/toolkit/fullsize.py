"""Full-size checkpoints without their weights: the models built on the meta device, their configs and header-only files.

A plugin that gives the planner's figures for a real checkpoint (docs/placement.md)
writes a diffusers folder whose weight files hold the true safetensors header
and no data (``autopipe_core.headers.write_header``: the data is a hole, a few
kilobytes on disk for tens of gigabytes of apparent size). The planner reads
it as it reads the real download. What differs between families is data: the
models to build (diffusers' and transformers' own classes, with the published
numbers), the dtype each component is stored in, and how many shards each
repository splits it into. The writing is here, once::

    from autopipe_core.toolkit import fullsize

    models = fullsize.meta_models(build, {"transformer": TRANSFORMER, "vae": VAE})
    for name, model in models.items():
        fullsize.save_config(model, folder / name)
        fullsize.write_weights(folder / name, fullsize.STEMS["diffusers"], fullsize.state_shapes(model), "BF16", shards=3)

Importing this module imports no torch, diffusers or transformers; the
functions that build or save a model import them when called.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from ..headers import DTYPE_BITS, write_header

__all__ = [
    "CONFIG_NOISE", "STEMS", "dump_json", "meta_model_from_config", "meta_models", "save_config", "state_shapes",
    "write_scheduler", "write_weights",
]

#: The stem of a library's weight files: diffusers saves ``diffusion_pytorch_model.safetensors``, transformers
#: ``model.safetensors`` (and each shards them as ``<stem>-00001-of-00003.safetensors`` beside ``<stem>.safetensors.index.json``).
STEMS: Mapping[str, str] = MappingProxyType({"diffusers": "diffusion_pytorch_model", "transformers": "model"})

#: Keys a library's save writes that depend on the installed versions or the save itself, not the model:
#: :func:`save_config` and :func:`write_scheduler` drop them, so that writing a config twice gives the same bytes.
CONFIG_NOISE = ("_diffusers_version", "transformers_version", "_name_or_path", "dtype", "torch_dtype")


def dump_json(path: str | Path, content: Mapping[str, Any]) -> Path:
    """Write `content` as JSON at `path` (parents made): 2-space indent, sorted keys, a final newline; returns the path.

    Sorted and indented so that a shipped config re-written from the same
    numbers is the same bytes, and a diff of two reads line by line.
    TypeError (json's) for a value JSON cannot hold.
    """
    path = Path(path)
    text = json.dumps(dict(content), indent=2, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def state_shapes(model: Any, skip: Callable[[str], bool] | None = None) -> dict[str, tuple[int, ...]]:
    """name -> shape of every tensor a save of `model` holds: parameters and persistent buffers, in state-dict order.

    A tied tensor (T5's ``encoder.embed_tokens.weight``, which is
    ``shared.weight``) is listed once, under its first name, as
    ``save_pretrained`` writes it. `skip(name)` true leaves a tensor out
    (``position_ids`` buffers some files do not carry). Shapes are element
    counts per dimension. AttributeError for an object with no ``state_dict``.
    """
    seen: set[int] = set()
    out: dict[str, tuple[int, ...]] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in seen or (skip is not None and skip(name)):
            continue
        seen.add(id(tensor))
        out[name] = tuple(tensor.shape)
    return out


def meta_models(build: Callable[[str, Mapping[str, Any]], Any], numbers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """component -> ``build(component, settings)`` for each entry of `numbers`, built on torch's meta device.

    The meta device holds shapes and no memory: a 12 B transformer costs
    nothing, and tied weights stay tied. `build` is the family's own (its
    classes, its published numbers); what it raises passes unchanged.
    """
    import torch

    with torch.device("meta"):
        return {name: build(name, settings) for name, settings in numbers.items()}


def meta_model_from_config(config_folder: str | Path, component: str) -> Any:
    """The component ``config_folder/component/config.json`` describes, built on the meta device from that config alone.

    A diffusers config names its class in ``_class_name``; a transformers one
    in ``architectures[0]`` with its ``model_type`` (``AutoConfig.for_model``).
    FileNotFoundError for a missing config.json; KeyError naming the component
    for a config that names no class; AttributeError for a class the
    installed library does not have.
    """
    import diffusers
    import torch
    import transformers

    path = Path(config_folder) / component / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    if "_class_name" not in config and not config.get("architectures"):
        raise KeyError(f"{path} names no class: neither '_class_name' (diffusers) nor 'architectures' (transformers)")
    with torch.device("meta"):
        if "_class_name" in config:
            return getattr(diffusers, config["_class_name"]).from_config(config)
        return getattr(transformers, config["architectures"][0])(transformers.AutoConfig.for_model(**config))


def _without_noise(path: Path) -> Path:
    config = json.loads(path.read_text(encoding="utf-8"))
    for key in CONFIG_NOISE:
        config.pop(key, None)
    return dump_json(path, config)


def save_config(model: Any, folder: str | Path) -> Path:
    """Write `model`'s config.json in `folder` as its library saves it, less :data:`CONFIG_NOISE`; returns the file.

    diffusers models (``save_config``) and transformers models
    (``config.save_pretrained``) alike; the JSON is re-written by
    :func:`dump_json`, so a re-write from the same numbers is the same bytes.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "save_config"):  # diffusers
        model.save_config(folder)
    else:  # transformers
        model.config.save_pretrained(folder)
    return _without_noise(folder / "config.json")


def write_scheduler(folder: str | Path, class_name: str, settings: Mapping[str, Any]) -> Path:
    """Write ``folder/scheduler/scheduler_config.json`` of diffusers' scheduler `class_name` built from `settings`; returns it.

    The config is the one the class saves (its defaults filled in), less
    :data:`CONFIG_NOISE`. AttributeError for a class diffusers does not have;
    TypeError (the class's) for a setting it does not take.
    """
    import diffusers

    scheduler = getattr(diffusers, class_name)(**settings)
    scheduler.save_config(Path(folder) / "scheduler")
    return _without_noise(Path(folder) / "scheduler" / "scheduler_config.json")


def write_weights(
    folder: str | Path,
    stem: str,
    shapes: Mapping[str, tuple[int, ...]],
    dtype: str | Callable[[str], str],
    shards: int = 1,
    variant: str | None = None,
) -> tuple[Path, ...]:
    """Write `shapes` as header-only safetensors files in `folder`, as diffusers and transformers name them; returns the files.

    - `stem`: ``diffusion_pytorch_model`` or ``model`` (:data:`STEMS`);
    - `shapes`: tensor name -> shape (element counts), in the order the files list them;
    - `dtype`: a safetensors dtype name for every tensor ("BF16", "F16", "F32"),
      or a function of the tensor name giving each one's (an int64 step counter
      beside bfloat16 weights);
    - `shards`: how many files the repository splits the component into. One
      is ``<stem>.safetensors``; more are ``<stem>-0000i-of-0000n.safetensors``
      of ceil(count / shards) tensors each, in order, beside the
      ``<stem>.safetensors.index.json`` (``{"metadata": {}, "weight_map": ...}``)
      the libraries read;
    - `variant`: a weight variant ("fp16"): ``<stem>.fp16.safetensors``,
      ``<stem>.fp16-0000i-of-0000n.safetensors`` and
      ``<stem>.safetensors.index.fp16.json``, as diffusers names them.

    ValueError for a shard count below 1 or a dtype safetensors does not
    have (checked before anything is written).
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards must be a whole number of files, 1 or more; got {shards!r}")
    typed = [(name, (dtype if isinstance(dtype, str) else dtype(name), tuple(shape))) for name, shape in shapes.items()]
    unknown = sorted({kind for _, (kind, _) in typed if kind not in DTYPE_BITS})
    if unknown:
        raise ValueError(f"no safetensors dtype {', '.join(map(repr, unknown))}; the dtypes are {', '.join(DTYPE_BITS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = f"{stem}.{variant}" if variant else stem
    if shards == 1:
        return (write_header(folder / f"{base}.safetensors", dict(typed)),)
    per = math.ceil(len(typed) / shards)
    written, weight_map = [], {}
    for i in range(shards):
        part = dict(typed[i * per:(i + 1) * per])
        filename = f"{base}-{i + 1:05d}-of-{shards:05d}.safetensors"
        written.append(write_header(folder / filename, part))
        weight_map.update(dict.fromkeys(part, filename))
    index = f"{stem}.safetensors.index.{variant}.json" if variant else f"{stem}.safetensors.index.json"
    written.append(dump_json(folder / index, {"metadata": {}, "weight_map": weight_map}))
    return tuple(written)
