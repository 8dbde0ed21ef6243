"""Checkpoints at their real sizes that cost no disk: safetensors files whose header names every tensor with its true
shape and dtype, and whose data is a hole.

What a plugin's tests of detection and planning build: a full-size single
file's header (to tell its family and variant apart), or a full-size folder
(model_index.json, each component's config.json and weights) for the
planner to count. The models are built on the meta device (accelerate's
``init_empty_weights``), so nothing is allocated; the files are written by
:func:`autopipe_core.headers.write_header`, sparse on every common file
system.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ..headers import write_header

#: torch's dtypes (as ``str(tensor.dtype)`` names them) -> the safetensors dtype codes.
SAFETENSORS_DTYPES: Mapping[str, str] = {
    "torch.float64": "F64", "torch.float32": "F32", "torch.float16": "F16", "torch.bfloat16": "BF16",
    "torch.float8_e4m3fn": "F8_E4M3", "torch.float8_e5m2": "F8_E5M2",
    "torch.int64": "I64", "torch.int32": "I32", "torch.int16": "I16", "torch.int8": "I8", "torch.uint8": "U8", "torch.bool": "BOOL",
}


def tensor_entries(tensors: Mapping[str, Any], dtype: str | None = None) -> dict[str, tuple[str, tuple[int, ...]]]:
    """{name: (safetensors dtype, shape)} of `tensors`, whose values are tensors (meta ones will do: only ``.dtype`` and
    ``.shape`` are read), shapes (with `dtype`, a safetensors code such as "BF16"), or (dtype, shape) pairs.

    `dtype`, when given, is every tensor's dtype in the file, whatever the
    tensor's own. Raises TypeError for a value that is none of these, and
    ValueError for a torch dtype safetensors has no code for.
    """
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name, value in tensors.items():
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            code = dtype or SAFETENSORS_DTYPES.get(str(value.dtype))
            if code is None:
                raise ValueError(f"{name}: safetensors has no dtype for {value.dtype}")
            out[name] = (code, tuple(int(s) for s in value.shape))
        elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
            out[name] = (dtype or value[0], tuple(value[1]))
        elif isinstance(value, (tuple, list)) and all(isinstance(s, int) for s in value):
            if dtype is None:
                raise TypeError(f"{name}: a bare shape {value} needs the file's dtype (dtype='BF16')")
            out[name] = (dtype, tuple(value))
        else:
            raise TypeError(f"{name}: {type(value).__name__} is not a tensor, a shape or a (dtype, shape) pair")
    return out


def header_only_file(path: str | Path, tensors: Mapping[str, Any], dtype: str | None = None) -> Path:
    """Write `tensors` (see :func:`tensor_entries`) as a safetensors file at `path` whose data is a hole; return the path.

    The folder is made if missing. The header is the one the safetensors
    library would write for these names, dtypes and shapes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_header(path, tensor_entries(tensors, dtype))


#: The libraries whose models a diffusers folder holds, each with its weight file's name.
LIBRARIES: tuple[str, ...] = ("diffusers", "transformers")


def weights_name(library: str) -> str:
    """The weight file a component of `library` has in a diffusers folder: transformers' "model.safetensors", diffusers'
    "diffusion_pytorch_model.safetensors"."""
    return "model.safetensors" if library == "transformers" else "diffusion_pytorch_model.safetensors"


def header_only_checkpoint(
    root: str | Path,
    class_name: str,
    components: Mapping[str, tuple[str, Any, Mapping[str, Any]]],
    entries: Mapping[str, Any] | None = None,
    parameters_only: bool = False,
    dtype: str | None = None,
) -> Path:
    """A diffusers folder at `root` as a full-size checkpoint is laid out, its weights holes; return `root`.

    `components` maps each model component to (library, model, config): the
    model (built on the meta device) gives model_index.json's class name and
    the weight file's tensors (its ``state_dict()``, or with
    `parameters_only` its ``named_parameters()``, tied weights once, as
    transformers' save_pretrained writes them), the config is written as the
    component's config.json; a library other than :data:`LIBRARIES` is a
    ValueError. `entries` are model_index.json's other entries
    (scheduler, tokenizers: ``{"scheduler": ["diffusers", "X"]}``). `dtype`, when given, is every tensor's dtype in
    the weight files (a safetensors code: "F32"), whatever the model's.
    """
    root = Path(root)
    index: dict[str, Any] = {"_class_name": class_name, **(entries or {})}
    for name, (library, model, config) in components.items():
        if library not in LIBRARIES:
            raise ValueError(f"{name}: {library!r} is not a library whose weights a checkpoint folder holds ({', '.join(LIBRARIES)})")
        index[name] = [library, type(model).__name__]
        tensors = dict(model.named_parameters()) if parameters_only else model.state_dict()
        header_only_file(root / name / weights_name(library), tensors, dtype)
        (root / name / "config.json").write_text(json.dumps(config))
    root.mkdir(parents=True, exist_ok=True)
    (root / "model_index.json").write_text(json.dumps(index))
    return root
