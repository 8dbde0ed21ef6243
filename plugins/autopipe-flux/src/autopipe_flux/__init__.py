"""autopipe plugin for FLUX.1 and Chroma: two families of the same rectified-flow transformer design.

The package holds the names its single-file detection shares with the
registrations, the layout module and the tiny builder: the families, the
modifiers, the transformer's input widths, the detect keys and where an
all-in-one file keeps each component, plain values. The registrations are in
:mod:`autopipe_flux.plugin`, which the entry point names; detection is in
:mod:`autopipe_flux.single_file`. So a cold ``autopipe resolve FILE`` imports
the detection module alone (and this package), never the specs and pluggy
the registrations import. Nothing here imports torch, diffusers or
transformers.
"""

from __future__ import annotations

from autopipe_core.toolkit import tensor_names

FLUX = "flux"
CHROMA = "chroma"

#: The modifiers of FLUX's rows that no keyword selects: a checkpoint's class name (or a live pipeline's class) does.
CONTROL = "control"
FILL = "fill"
KONTEXT = "kontext"

#: The transformer's input channels of each kind: FLUX packs 2x2 patches of the VAE's 16 latent channels (64); Control
#: adds the control image's packed latents (64); Fill adds the masked image's (64) and the mask, one value per pixel of
#: each 2x2 patch of 8x8-pixel latents (4 x 64 = 256). Single files are told apart by them (img_in.weight).
LATENT_CHANNELS = 64
CONTROL_CHANNELS = 2 * LATENT_CHANNELS  # 128
FILL_CHANNELS = 2 * LATENT_CHANNELS + 4 * 8 * 8  # 384

#: Where ComfyUI's all-in-one files put the transformer's tensors (layout.TRANSFORMER); BFL's own files have no prefix.
COMFY_PREFIX = tensor_names.COMFY_PREFIX
#: Where those files put the text encoders (layout.CLIP_L, layout.T5XXL), and the VAE's prefixes diffusers reads
#: (``LDM_VAE_KEYS``; ComfyUI's FLUX files use ``vae.``): here, not in the layout module, so that detection reads them
#: without importing the layout's renaming tables.
CLIP_L = "text_encoders.clip_l.transformer."
T5XXL = "text_encoders.t5xxl.transformer."
VAE_PREFIXES = ("vae.", "first_stage_model.")
#: The patch embedding: the first tensor single_file.detect reads, under the file's prefix.
IMG_IN = "img_in.weight"
#: autopipe_detect_keys, mirroring detect's first check: it claims nothing whose img_in.weight it cannot read, bare (BFL's
#: layout) or under ComfyUI's prefix, so every FLUX.1 and Chroma file it claims holds one of these.
DETECT_KEYS: tuple[str, ...] = (IMG_IN, COMFY_PREFIX + IMG_IN)
