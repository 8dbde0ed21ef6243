"""Recognising ControlNet single-file checkpoints from their header, and loading them offline.

A ControlNet is one model, not a pipeline: it is passed as ``controlnet=`` to
a pipeline of the family it was trained for. So a ControlNet file resolves to
a :class:`~autopipe_core.Detection` that names the component class and says
how to use it; ``resolve`` and ``from_single_file`` of such a file raise an
error quoting that, and :func:`from_single_file` here loads it.

Two layouts are recognised:

- the original one (lllyasviel's ControlNet 1.0/1.1 files), ``control_model.*``:
  ``control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`` is
  (320, 768) for SD 1.x and (320, 1024) for SD 2.x;
- diffusers' own, saved as one file (``controlnet_cond_embedding.*``):
  ``down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight`` is
  (320, 768) for SD 1.x; an SDXL ControlNet has ``add_embedding.linear_1.weight``
  (1280, 2816) and cross-attention 2048 in ``down_blocks.1``.

SDXL ControlNets come in sizes (diffusers' "large", "mid", "small"); the
config shipped is the large one's (diffusers/controlnet-canny-sdxl-1.0,
ten transformer layers in its last down block). The others are recognised
and need ``config=``.
"""

from __future__ import annotations

import os

from autopipe_core import Detection
from autopipe_core.headers import SafetensorsHeader
from autopipe_core.toolkit.single_file import ConfigFolders, first_key, shape

from . import DIFFUSERS_KEY, LDM_HINT, LDM_PREFIXES  # the names the detect keys are built from

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cold `autopipe resolve FILE` imports this module
if TYPE_CHECKING:
    from typing import Any

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
FOLDERS = ConfigFolders(CONFIGS, "autopipe-controlnet")
COMPONENT = "diffusers:ControlNetModel"

LDM_CROSS = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
CROSS_SUFFIX = "transformer_blocks.0.attn2.to_k.weight"
DIFFUSERS_CROSS = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"
XL_ADD = "add_embedding.linear_1.weight"
XL_CROSS = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"
XL_LARGE = "down_blocks.2.attentions.0.transformer_blocks.9.attn2.to_k.weight"

_SD = {
    768: ("stable-diffusion", "controlnet-sd1", "Stable Diffusion 1.x"),
    1024: ("stable-diffusion", "controlnet-sd2", "Stable Diffusion 2.x"),
    32: ("stable-diffusion", "controlnet-tiny", "autopipe-sd's tiny test checkpoint (cross-attention 32)"),
}


def _use(base: str, variant: str, has_config: bool) -> str:
    how = (
        "load it with autopipe_controlnet.from_single_file(PATH) (diffusers' ControlNetModel.from_single_file over the config "
        "autopipe-controlnet ships, offline)"
        if has_config
        else "load it with diffusers.ControlNetModel.from_single_file(PATH, config=<a folder with its config.json>)"
    )
    loading = base if base.endswith("checkpoint") or "checkpoint (" in base else f"a {base} checkpoint"  # the tiny one names itself one
    return f"It is a ControlNet for {base}: {how}, then pass it as controlnet= when loading {loading} (from_pretrained or from_single_file)."


def _detection(family: str, variant: str, base: str, reason: str, confidence: float = 0.95) -> Detection:
    config = FOLDERS.get_path(variant)
    return Detection(family, variant, confidence, reason, component=COMPONENT, config=config, use=_use(base, variant, config is not None))


def detect(header: SafetensorsHeader) -> list[Detection]:
    prefix = next((p for p in LDM_PREFIXES if p + LDM_HINT in header.tensors), None)
    if prefix is not None:
        key = first_key(header, prefix + "input_blocks.", CROSS_SUFFIX, prefer=prefix + LDM_CROSS)
        cross = shape(header, key, rank=2)
        if cross is None or cross[1] not in _SD:
            return []
        family, variant, base = _SD[cross[1]]
        return [_detection(family, variant, base, f"original ControlNet layout ({prefix}{LDM_HINT}); {key} takes {cross[1]}")]
    if DIFFUSERS_KEY not in header.tensors:
        return []
    add = header.shape(XL_ADD)
    if add is not None:
        cross = shape(header, XL_CROSS, rank=2)
        if cross is None or cross[1] != 2048:
            return []
        facts = f"diffusers layout; {XL_ADD} is {list(add)} and {XL_CROSS} takes 2048"
        if XL_LARGE in header.tensors:
            return [_detection("stable-diffusion-xl", "controlnet-sdxl", "Stable Diffusion XL", facts + "; 10 transformer layers in down_blocks.2 (the full-size one)")]
        return [_detection("stable-diffusion-xl", "controlnet-sdxl-small", "Stable Diffusion XL", facts + "; fewer transformer layers than the full-size one (a mid or small ControlNet)", 0.9)]
    key = first_key(header, "down_blocks.", CROSS_SUFFIX, prefer=DIFFUSERS_CROSS)
    cross = shape(header, key, rank=2)
    if cross is None or cross[1] not in _SD:
        return []
    family, variant, base = _SD[cross[1]]
    return [_detection(family, variant, base, f"diffusers layout ({DIFFUSERS_KEY}); {key} takes {cross[1]}")]


def from_single_file(path: str, **kwargs: Any) -> Any:
    """Load a ControlNet single file offline: its variant from the header, its config from this plugin.

    Keywords go to diffusers' ``ControlNetModel.from_single_file`` (``torch_dtype``, ``config`` to override).
    """
    from autopipe_core import UnsupportedModelError
    from autopipe_core.single_file import read

    header = read(path, kwargs.pop("allow_pickle", False))
    found = detect(header)
    if not found:
        raise UnsupportedModelError(f"{path} is not a ControlNet autopipe-controlnet recognises ({len(header.tensors)} tensors); `autopipe inspect {path}` says what it is")
    from diffusers import ControlNetModel

    if found[0].config is not None:
        kwargs.setdefault("config", found[0].config)
    kwargs.setdefault("local_files_only", True)
    return ControlNetModel.from_single_file(str(path), **kwargs)
