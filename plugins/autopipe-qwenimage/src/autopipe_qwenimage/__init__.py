"""autopipe plugin for Qwen-Image: the base model, its ControlNets, Qwen-Image-Edit, Edit-Plus, Layered and Qwen-Image 2.1.

The package holds the names its single-file detection shares with the
registrations and the tiny builder: the families and the detect keys, plain
values. The registrations are in :mod:`autopipe_qwenimage.plugin`, which the
entry point names; detection is in :mod:`autopipe_qwenimage.single_file`. So
a cold ``autopipe resolve FILE`` imports the detection module alone (and
this package), never the specs and pluggy the registrations import. Nothing
here imports torch, diffusers or transformers.
"""

from __future__ import annotations

from autopipe_core.toolkit import tensor_names

FAMILY = "qwenimage"
EDIT = "qwenimage-edit"
EDIT_PLUS = "qwenimage-edit-plus"
LAYERED = "qwenimage-layered"
QWENIMAGE21 = "qwenimage21"
FAMILIES = (FAMILY, EDIT, EDIT_PLUS, LAYERED, QWENIMAGE21)

#: ComfyUI's prefix of the diffusion model in a checkpoint it saves; Comfy-Org's split diffusion-model files have none.
COMFY_PREFIX = tensor_names.COMFY_PREFIX
#: The prefixes a single file's transformer names may carry.
PREFIXES = ("", COMFY_PREFIX)
TXT_NORM = "txt_norm.weight"  # (joint_attention_dim,): 3584 for Qwen2.5-VL-7B's states
TEXT_NORM_21 = "txt_in.text_norm.weight"  # diffusers' key for "qwen-image-2.1" (CHECKPOINT_KEY_NAMES)
#: The single-file detection's first checks (single_file.detect): Qwen-Image 2.1 is claimed by its text norm, Qwen-Image
#: and Layered only with theirs, each under one of PREFIXES. Here, not there, so that registering them imports no
#: detection code; single_file.py takes these names from this module.
DETECT_KEYS = tuple(prefix + key for key in (TEXT_NORM_21, TXT_NORM) for prefix in PREFIXES)
