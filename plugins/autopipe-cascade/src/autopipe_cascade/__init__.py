"""autopipe plugin for Würstchen ("wuerstchen") and Stable Cascade ("cascade"), Würstchen's successor.

Both are a text-conditional prior (Stage C: text -> a small image embedding,
24x24 for 1024 px) and a decoder (Stage B, then the Paella VQGAN, Stage A:
embedding -> picture), two checkpoints.

The package holds the names its single-file detection and tiny builder share
with the registrations: the families and the detect keys, plain strings. The
registrations are in :mod:`autopipe_cascade.plugin`, which the entry point
names; detection is in :mod:`autopipe_cascade.single_file`. So a cold
``autopipe resolve FILE`` imports the detection module alone (and this
package), never the specs and pluggy the registrations import. Nothing here
imports torch, diffusers or transformers.
"""

from __future__ import annotations

CASCADE = "cascade"
WUERSTCHEN = "wuerstchen"
FAMILIES = (CASCADE, WUERSTCHEN)

#: Only Stage C reads text tokens: diffusers' marker of a Stage C file (CHECKPOINT_KEY_NAMES["stable_cascade_stage_c"]).
STAGE_C_MARKER = "clip_txt_mapper.weight"
#: diffusers' marker of a Stage B file (CHECKPOINT_KEY_NAMES["stable_cascade_stage_b"]): its second level's first block.
STAGE_B_MARKER = "down_blocks.1.0.channelwise.0.weight"
#: autopipe_detect_keys, mirroring single_file.detect's first check: a file with neither marker is not claimed (both
#: layouts name them bare), so every Stable Cascade file it claims holds one. Here, not there, so that registering them
#: imports no detection code; single_file.py takes both from this module.
DETECT_KEYS: tuple[str, ...] = (STAGE_C_MARKER, STAGE_B_MARKER)
