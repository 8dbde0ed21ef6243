"""autopipe plugin for Z-Image: Z-Image-Turbo and Z-Image (base), their ControlNets, and Z-Image-Omni.

The package holds the names its single-file detection shares with the
registrations and the tiny builder: the families and the detect keys, plain
values, and :func:`load_controlnet`. The registrations are in
:mod:`autopipe_zimage.plugin`, which the entry point names; detection is in
:mod:`autopipe_zimage.single_file`. So a cold ``autopipe resolve FILE``
imports the detection module alone (and this package), never the specs and
pluggy the registrations import. Nothing here imports torch, diffusers or
transformers until :func:`load_controlnet` is called.
"""

from __future__ import annotations

from autopipe_core import serialized
from autopipe_core.toolkit import tensor_names

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

FAMILY = "z-image"
OMNI = "z-image-omni"
FAMILIES = (FAMILY, OMNI)

#: ComfyUI's prefix of the diffusion model in a checkpoint it saves; Comfy-Org's split diffusion-model files have none.
COMFY_PREFIX = tensor_names.COMFY_PREFIX
#: The prefixes a single file's transformer names may carry.
PREFIXES = ("", COMFY_PREFIX)
MODULATION = "layers.0.adaLN_modulation.0.weight"  # diffusers' key for "z-image-turbo" (CHECKPOINT_KEY_NAMES)
CONTROL_EMBEDDER = "control_all_x_embedder.2-1.weight"  # (dim, 4 x control_in_dim); diffusers' "z-image-turbo-controlnet" key
#: The single-file detection's first checks (single_file.detect): a Union ControlNet is claimed only with its control
#: embedder (bare: the files have no prefix), a transformer only with its first modulation under one of PREFIXES. Here,
#: not there, so that registering them imports no detection code; single_file.py and layout.py take them from here.
DETECT_KEYS = (CONTROL_EMBEDDER, *(prefix + MODULATION for prefix in PREFIXES))


@serialized
def load_controlnet(path: str | Path, **kwargs: Any) -> Any:
    """A Z-Image Union ControlNet single file (the first Union, 2.0 or 2.1) as a ``ZImageControlNetModel``, offline.

    The config is the shipped one of the file's kind, decided as diffusers decides (2.0 and 2.1 by the values of one
    tensor: :func:`autopipe_zimage.single_file.controlnet_folder`); `kwargs` go to ``from_single_file`` (``torch_dtype=``).
    UnsupportedModelError for another file. Pass the model as ``controlnet=``.
    """
    from .single_file import load_controlnet as load

    return load(path, **kwargs)
