"""autopipe plugin for Alpha-VLLM's Lumina lineage: Lumina-Next and Lumina-Image 2.0.

The package holds the names its single-file detection shares with the
registrations: the families, Lumina 2's pipeline class, the caption
embedder's key and the detect keys, plain strings. The registrations are in
:mod:`autopipe_lumina.plugin`, which the entry point names; detection is in
:mod:`autopipe_lumina.single_file` (with the layouts in
:mod:`autopipe_lumina.layout`). So a cold ``autopipe resolve FILE`` imports
the detection module alone (and this package), never the specs and pluggy
the registrations import. Nothing here imports torch, diffusers or
transformers.

Two families, one per key of diffusers' AutoPipeline tables (0.42.1):

- ``lumina``: LuminaPipeline (diffusers' key "lumina"): Lumina-Next, a Next-DiT
  (LuminaNextDiT2DModel) under Gemma (gemma-2b, ``GemmaModel``) with SDXL's
  VAE, e.g. Alpha-VLLM/Lumina-Next-SFT-diffusers.
- ``lumina2``: Lumina2Pipeline ("lumina2"): Lumina-Image 2.0, a unified
  joint-attention DiT (Lumina2Transformer2DModel) under Gemma 2
  (gemma-2-2b, ``Gemma2Model``) with FLUX.1's 16-channel VAE, e.g.
  Alpha-VLLM/Lumina-Image-2.0 and its fine-tunes (Neta Lumina).
"""

from __future__ import annotations

from autopipe_core.toolkit import tensor_names

LUMINA = "lumina"
LUMINA2 = "lumina2"
FAMILIES = (LUMINA, LUMINA2)

#: diffusers' class for Lumina-Image 2.0 (0.42.1), the one a Lumina 2 file is claimed for (Lumina-Next's and the names of older releases are in .plugin).
LUMINA2_CLASS = "Lumina2Pipeline"

#: ComfyUI's and kohya's prefix for a diffusion model's tensors (diffusers' Lumina 2 converter strips it).
COMFY_PREFIX = tensor_names.COMFY_PREFIX
#: Lumina 2 and Lumina-Next: the caption embedder's norm, what diffusers' CHECKPOINT_KEY_NAMES["lumina2"] looks for.
CAPTION_NORM_KEY = "cap_embedder.0.weight"
#: The single-file detection's first check (single_file.detect, with layout.strip_prefix): no file without the caption
#: embedder's norm, bare or under ComfyUI's prefix, is claimed. Here, not there, so that registering them imports no
#: detection code; layout.py takes both names from this module.
DETECT_KEYS = (COMFY_PREFIX + CAPTION_NORM_KEY, CAPTION_NORM_KEY)
