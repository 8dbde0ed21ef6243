"""autopipe plugin for the PixArt lineage: PixArt-α, PixArt-Σ, Sana and Sana Sprint.

The package holds the names its single-file detection shares with the
registrations and the tiny builder: the families, the detect keys and the
tiny Sana layout's latent side, plain values. The registrations are in
:mod:`autopipe_pixart.plugin`, which the entry point names; detection is in
:mod:`autopipe_pixart.single_file`. So a cold ``autopipe resolve FILE``
imports the detection module alone (and this package and :mod:`.layout`),
never the specs and pluggy the registrations import. Nothing here imports
torch, diffusers or transformers.
"""

from __future__ import annotations

from autopipe_core.toolkit import tensor_names

PIXART_ALPHA = "pixart-alpha"
PIXART_SIGMA = "pixart-sigma"
SANA = "sana"
SANA_SPRINT = "sana-sprint"
FAMILIES = (PIXART_ALPHA, PIXART_SIGMA, SANA, SANA_SPRINT)

#: The tensor diffusers looks for to call a file "sana" (CHECKPOINT_KEY_NAMES["sana"]); PixArt's original files have it too.
CROSS_ATTN_KEY = "blocks.0.cross_attn.q_linear.weight"
#: The prefix ComfyUI-style files put before the transformer's names; diffusers' converter strips it.
COMFY_PREFIX = tensor_names.COMFY_PREFIX
#: The single-file detection's first check (single_file.detect, with layout.strip_prefix): no file without the first
#: block's cross-attention query, bare or under ComfyUI's prefix, is claimed (Sana's, PixArt's, Sana 1.5's or Sprint's).
#: Here, not there, so that registering them imports no detection code; layout.py takes both names from this module.
DETECT_KEYS = (COMFY_PREFIX + CROSS_ATTN_KEY, CROSS_ATTN_KEY)

#: The tiny Sana transformer's latent side (512 px through the 32x DC-AE, diffusers' 512 px bins): tiny.py builds it,
#: single_file.detect tells the tiny test layout by it. Here, not in tiny.py, so that detection imports no builder.
SANA_SAMPLE_SIZE = 16
