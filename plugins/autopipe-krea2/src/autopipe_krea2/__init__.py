"""autopipe plugin for Krea 2: Krea2Pipeline (diffusers' key "krea2"), text to image.

The package holds the names its single-file detection shares with the
registrations: the family, its pipeline class, the example repository, the
key diffusers knows Krea 2 by and the detect keys, plain strings. The
registrations are in :mod:`autopipe_krea2.plugin`, which the entry point
names; detection is in :mod:`autopipe_krea2.single_file` (with the layout in
:mod:`autopipe_krea2.layout`). So a cold ``autopipe resolve FILE`` imports
the detection module alone (and this package), never the specs and pluggy
the registrations import. Nothing here imports torch, diffusers or
transformers.

One family, ``krea2``: a single-stream MMDiT (Krea2Transformer2DModel: 28
blocks 6144 wide at the class's defaults, grouped-query attention, a small
text-fusion transformer over 12 tapped hidden states of the text encoder)
under a Qwen3-VL text encoder (``Qwen3VLModel``, Qwen3-VL-4B's, 2560 wide,
with its tokenizer through ``AutoTokenizer``) and Qwen-Image's VAE
(AutoencoderKLQwenImage, 16 latent channels, 8x). Checkpoints: Krea's base
(``krea/Krea-2-Raw``, the repo diffusers' single-file code names) and the
few-step distilled one (``is_distilled`` true in model_index.json).
"""

from __future__ import annotations

from autopipe_core.toolkit import tensor_names

KREA2 = "krea2"
FAMILIES = (KREA2,)
KREA2_CLASS = "Krea2Pipeline"
#: The repo diffusers 0.42.1's single-file code names for Krea 2 (single_file_utils.DIFFUSERS_DEFAULT_PIPELINE_PATHS).
EXAMPLE = "krea/Krea-2-Raw"

#: ComfyUI's prefix for the diffusion model (layout.COMFY_PREFIX); diffusers' converter strips it.
COMFY_PREFIX = tensor_names.COMFY_PREFIX
#: The tensor diffusers' single-file code recognises Krea 2 by (CHECKPOINT_KEY_NAMES["krea2"], without the prefix),
#: layout.DETECT_KEY.
KREA2_KEY = "txtfusion.projector.weight"
#: autopipe_detect_keys, mirroring detect's first check (layout.strip_prefix): it claims no file without KREA2_KEY, bare
#: or under ComfyUI's prefix, so every Krea 2 file it claims holds one of these.
DETECT_KEYS: tuple[str, ...] = (KREA2_KEY, COMFY_PREFIX + KREA2_KEY)
