"""autopipe plugin for Stable Diffusion 1.x and 2.x.

The package holds the names its single-file detection shares with the
registrations: the family and the detect keys, plain strings. The
registrations are in :mod:`autopipe_sd.plugin`, which the entry point names;
detection is in :mod:`autopipe_sd.single_file`. So a cold ``autopipe resolve
FILE`` imports the detection module alone (and this package), never the
specs and pluggy the registrations import. Nothing here imports torch,
diffusers or transformers.
"""

from __future__ import annotations

from autopipe_core.toolkit import tensor_names

FAMILY = "stable-diffusion"

#: The UNet's first convolution in the original (LDM) layout: the first tensor single_file.detect reads. From the
#: toolkit's tensor_names, which imports nothing, so that registering the keys below imports no detection code.
CONV_IN = tensor_names.LDM_CONV_IN
#: autopipe_detect_keys, mirroring detect's first check: it claims nothing without a 4-d CONV_IN (there is no other
#: prefix it reads a UNet under), so every SD 1.x/2.x file it claims holds it.
DETECT_KEYS: tuple[str, ...] = (CONV_IN,)
